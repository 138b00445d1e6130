"""Streamlit app: `streamlit run app.py` (or `make run`). Pages live in grader/ui/."""

import streamlit as st

from grader.ui.shell import keep_inputs, language_switch, pages, warm_up

st.set_page_config(page_title="Reflection grader", page_icon=":material/stairs:", layout="wide")
keep_inputs()  # before st.navigation, which drops the widget values of the page being left
language_switch()
st.navigation(pages()).run()
warm_up()
