import pytest

from grader.evidence import detect_language, locate_quote, split_sentences


@pytest.mark.parametrize(
    "text, expected",
    [
        ("We interviewed users. Then we shipped a fix!", ["We interviewed users.", "Then we shipped a fix!"]),
        ("고객 인터뷰를 했다. 그 결과 온보딩을 바꿨습니다!", ["고객 인터뷰를 했다.", "그 결과 온보딩을 바꿨습니다!"]),
        ("- first bullet\n* second bullet\n1. third item here", ["first bullet", "second bullet", "third item here"]),
        ("e.g. we did it. Mr. Kim agreed. It costs 3.5 dollars.", ["e.g. we did it.", "Mr. Kim agreed.", "It costs 3.5 dollars."]),
        ("Q: 어떤 일을 하셨나요?\nA: 매주 고객에게 전화했어요", ["어떤 일을 하셨나요?", "매주 고객에게 전화했어요"]),
        ("ㅋㅋ\n\n   \n", ["ㅋㅋ"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == expected
    for s in sentences:
        assert text[s.start : s.end] == s.text


def test_long_unpunctuated_korean_is_split_at_endings() -> None:
    text = "고객이 불편하다고 해서 바로 고쳤어요 " * 6 + "그리고 매주 전화했어요 " * 6
    sentences = split_sentences(text)
    assert len(sentences) > 3
    assert all(len(s.text) <= 600 for s in sentences)
    assert all(text[s.start : s.end] == s.text for s in sentences)


def test_detect_language() -> None:
    assert detect_language("저는 PM으로 일하며 매주 고객 인터뷰를 합니다.") == "ko"
    assert detect_language("I run weekly interviews with our SaaS customers.") == "en"
    assert detect_language("12345 !!!") == "en"


@pytest.mark.parametrize(
    "quote, found",
    [
        ("We  interviewed\n12 users.", "We interviewed 12 users."),  # whitespace differences
        ("“the fix”", '"the fix"'),  # quote marks only
        ("He said 'hi'", "He said ‘hi’"),
    ],
)
def test_locate_quote_tolerates_whitespace_and_quote_marks(quote: str, found: str) -> None:
    story = f"Intro. {found} Outro."
    span = locate_quote(story, quote)
    assert span is not None
    assert story[span[0] : span[1]] == found


@pytest.mark.parametrize("quote", ["We interviewed 13 users.", "", "   ", "completely invented"])
def test_locate_quote_rejects_anything_else(quote: str) -> None:
    assert locate_quote("Intro. We interviewed 12 users. Outro.", quote) is None


def test_locate_quote_strips_wrapping_quotation_marks() -> None:
    story = "Intro. We shipped the fix. Outro."
    span = locate_quote(story, "“We shipped the fix.”")
    assert span is not None and story[span[0] : span[1]] == "We shipped the fix."
