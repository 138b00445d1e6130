"""The Streamlit front (`streamlit run app.py`). The only package that imports streamlit.

Pages render and call the library (grader.grading, grader.evals, grader.store; grader.index and
grader.rubric on the Rubric & sources page); they hold no grading logic.
"""
