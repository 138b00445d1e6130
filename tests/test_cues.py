"""Behaviour cues of the customer-obsession rubric fire on sentences showing that behaviour."""

from pathlib import Path

import pytest

from grader.evidence import Sentence
from grader.rubric import load_rubric_file
from grader.signals import compiled_cues, cue_denials, cue_matrix, sentence_flags

RUBRIC = load_rubric_file(Path(__file__).resolve().parents[1] / "corpus" / "rubrics" / "customer-obsession.yaml")
CUES = compiled_cues(RUBRIC)

CASES = {
'co.L0.1': [("솔직히 그 고객은 진상이라 대충 응대하고 빨리 끊었어요.", 'ko'), ("Honestly those users were clueless and I just wanted to get rid of them.", 'en'), ("계속 전화하는 고객이 너무 귀찮았다", 'ko'), ("I brushed them off and hung up on him.", 'en'), ("If a client doesn't read what they sign, that's on them.", 'en'), ("Most of that is freeloaders venting.", 'en')],
'co.L0.2': [("리뷰에 불만이 많았지만 무시하고 넘어갔다.", 'ko'), ("We ignored the complaints in the app store reviews.", 'en'), ("사용자 조사 없이 바로 개발에 들어갔습니다.", 'ko'), ("We built the feature without talking to any users.", 'en'), ("Did not survey free users first.", 'en'), ("We skipped user research to hit the date.", 'en')],
'co.L0.3': [("그건 제 일이 아니라서 다른 부서로 넘겼습니다.", 'ko'), ("Refunds are not my job, so I told her to email finance.", 'en'), ("규정상 안 된다고 절차대로 처리했어요.", 'ko'), ("I just wanted to close the tickets fast to hit my quota.", 'en'), ("My job is to close.", 'en'), ("안 읽은 건 그건 고객 책임이죠.", 'ko')],
'co.L1.1': [("고객들이 원하는 걸 알고는 있었지만 일정이 촉박해서 후순위로 미뤘다.", 'ko'), ("I knew users wanted dark mode but the deadline came first.", 'en'), ("팀장님 지시대로 기획을 바꿨다", 'ko'), ("We went with what our CEO wanted.", 'en')],
'co.L1.2': [("설문은 돌렸지만 결과는 반영하지 못했다.", 'ko'), ("We collected 300 survey responses but never acted on them.", 'en'), ("VOC는 매달 보고서로만 정리했어요", 'ko'), ("The interview notes sat in a folder.", 'en')],
'co.L1.3': [("저는 개발팀에 전달만 하고 그 뒤는 잘 모릅니다.", 'ko'), ("I escalated it to engineering and moved on.", 'en'), ("시키는 대로 했어요", 'ko'), ("I did my part.", 'en')],
'co.L2.1': [("사용자 피드백을 바탕으로 화면 구성을 바꿨습니다.", 'ko'), ("We prioritized the roadmap based on customer feedback.", 'en'), ("고객 입장에서 다시 생각해 봤다", 'ko'), ("I redesigned the checkout because customers kept complaining about the form.", 'en')],
'co.L2.2': [("고객 10명을 인터뷰하고 결과를 온보딩 개선에 반영했다.", 'ko'), ("I interviewed 12 customers and incorporated their feedback into the new flow.", 'en'), ("상담 내역을 전부 분류해서 자주 나오는 문제를 찾았다", 'ko'), ("I analyzed 400 support tickets.", 'en'), ("한 달 동안 불편 사항을 기록했다", 'ko'), ("I logged every parking complaint for a month.", 'en')],
'co.L2.3': [("문제가 해결될 때까지 끝까지 직접 챙겼습니다.", 'ko'), ("I took ownership and followed up with the customer until it was fixed.", 'en'), ("제가 책임지고 고객에게 다시 연락했습니다", 'ko'), ("I personally called every affected customer.", 'en')],
'co.L2.4': [("고객이 요청한 기능을 추가했더니 만족도가 4.5점으로 올랐다.", 'ko'), ("We shipped exactly what customers asked for and satisfaction went up.", 'en'), ("민원이 30% 줄었다", 'ko'), ("Complaints dropped by half after the small fix.", 'en'), ("그 뒤로 주차 불만이 거의 사라졌습니다.", 'ko'), ("After that, parking complaints almost disappeared.", 'en')],
'co.L3.1': [("모든 기획 회의에서 이게 고객에게 어떤 가치가 있는지부터 물었다.", 'ko'), ("We work backwards from the customer on every spec.", 'en'), ("판단 기준은 늘 사용자였다", 'ko'), ("I pushed back on behalf of the users.", 'en')],
'co.L3.2': [("출시 전부터 매주 사용자 5명과 프로토타입을 테스트했다.", 'ko'), ("We tested the prototype with five users every week before launch.", 'en'), ("추측 대신 빠르게 검증했다", 'ko'), ("We ran a pilot with three clinics.", 'en')],
'co.L3.3': [("왜 이탈하는지 계속 파고들어 보니 근본 원인은 결제가 아니라 배송 안내였다.", 'ko'), ("I dug into the root cause and proposed an alternative they hadn't thought of.", 'en'), ("알고 보니 진짜 문제는 가격이 아니었다", 'ko'), ("It turned out the real problem was onboarding.", 'en')],
'co.L4.1': [("사장님들이 말하기 전에 성수기 재고 문제를 먼저 알려드렸다.", 'ko'), ("I spent two weeks working in their warehouse and flagged the issue before they noticed.", 'en'), ("고객사 매장에서 일주일 동안 같이 일하며 사장님들의 업무 흐름을 파악했다", 'ko'), ("We anticipated their peak-season needs.", 'en')],
'co.L4.2': [("고객사를 단순 거래처로 보지 않고 파트너로 대했다.", 'ko'), ("I treated them as partners, not transactions, and tracked their growth.", 'en'), ("계약 이후에도 매달 점검 미팅을 했다", 'ko'), ("We held quarterly business reviews to help clients hit their goals.", 'en')],
'co.L4.3': [("우리 제품과 상관없는 문제였지만 세무사를 연결해 드렸다.", 'ko'), ("Even though it was outside our product, I connected them to a logistics partner.", 'en'), ("제 업무가 아니었지만 정산까지 챙겨 드렸다", 'ko'), ("I built a checklist for them that went beyond our product.", 'en')],
'co.L4.4': [("매출이 줄더라도 더 저렴한 요금제를 추천했고 대표를 설득했다.", 'ko'), ("I recommended a cheaper plan even though it cost us revenue.", 'en'), ("위약금을 없애자고 경영진을 설득했다", 'ko'), ("We removed the cancellation fee.", 'en')],
'co.L5.1': [("어르신들의 일상 자체를 바꾸는 서비스를 만들고 싶었다.", 'ko'), ("The product transformed how farmers sell their crops.", 'en'), ("이제 환자들은 더 이상 병원에 갈 필요가 없다", 'ko'), ("Families no longer had to travel to the city.", 'en')],
'co.L5.2': [("지자체와 협력해 새로운 사업 모델을 설계했다.", 'ko'), ("I co-founded a social enterprise and partnered with local hospitals.", 'en'), ("투자를 유치해 전국으로 확장했다", 'ko'), ("We redesigned the value chain.", 'en')],
'co.L5.3': [("10년째 소외 계층의 금융 문제에 매달려 왔다.", 'ko'), ("For a decade I have been committed to serving low-income families.", 'en'), ("사회적 가치를 만드는 게 제 사명입니다", 'ko'), ("I volunteered on weekends.", 'en')],
'co.L5.4': [("고객 인터뷰 결과를 전사에 공유하고 개발자들도 인터뷰에 참여시켰다.", 'ko'), ("I brought engineers along to customer interviews and wrote a playbook for new hires.", 'en'), ("매주 VOC 리뷰를 정례화했다", 'ko'), ("Two other teams adopted the ritual.", 'en')],
}

NOT_BEHAVIOUR = [
    "We talked a lot about customers in the meeting.",
    "고객은 정말 중요합니다.",
    "The server was down for two hours last night.",
    "팀원들과 휴가 일정을 공유했다.",
    "I disabled the feature flag in the config file.",
    "속이 상했지만 참았다.",
]


def fired(text: str) -> set[str]:
    row = cue_matrix([Sentence(text, 0, len(text))], CUES)[0]
    return {CUES.ids[i] for i in range(len(CUES.ids)) if row[i]}


@pytest.mark.parametrize("indicator, sentence", [(i, s) for i, cases in CASES.items() for s, _ in cases])
def test_cue_fires_on_its_behaviour(indicator: str, sentence: str) -> None:
    assert indicator in fired(sentence)


@pytest.mark.parametrize("sentence", NOT_BEHAVIOUR)
def test_topic_alone_fires_no_positive_cue(sentence: str) -> None:
    assert not {i for i in fired(sentence) if ".L0." not in i and ".L1." not in i}, fired(sentence)


ROLE_CASES = [
    ("provider", "I work the front desk at a dental clinic and answer our patients' calls."),
    ("provider", "My team rewrote the onboarding emails after reading the tickets."),
    ("provider", "저희 매장에서는 손님께 먼저 재고를 확인해 드립니다."),
    ("provider", "물류센터에서 입고 검수를 담당하고 있습니다."),
    ("customer", "I bought a mattress in March and called their support twice."),
    ("customer", "The barista told me the next one was on the house."),
    ("customer", "환불 요청했는데 고객센터에서는 챗봇만 나와요."),
    ("customer", "사장님이 바로 나와서 새로 만들어 주셨다."),
]


@pytest.mark.parametrize("role, sentence", ROLE_CASES)
def test_the_writers_role_is_recognised(role: str, sentence: str) -> None:
    flags = sentence_flags([Sentence(sentence, 0, len(sentence))])
    other = "customer" if role == "provider" else "provider"
    assert flags[role][0] and not flags[other][0]


@pytest.mark.parametrize("sentence", ["The weather was lovely all week.", "회의는 오후 세 시에 시작했다."])
def test_no_role_without_a_role(sentence: str) -> None:
    flags = sentence_flags([Sentence(sentence, 0, len(sentence))])
    assert not flags["provider"][0] and not flags["customer"][0]


@pytest.mark.parametrize(
    "indicator, sentence, denied",
    [
        # the cue's own words carry the negation: the behaviour itself, not its denial
        ("co.L3.3", "I watched five of them cook and found out the real problem wasn't the font.", False),
        ("co.L3.3", "알고 보니 진짜 문제는 가격이 아니라 배송 안내였다.", False),
        ("co.L3.3", "고객도 생각하지 못한 해결책을 제안했습니다.", False),
        # a negation outside the cue denies it
        ("co.L3.3", "I never dug into the root cause; we just patched it.", True),
        ("co.L2.2", "We did not interview 12 customers before the launch.", True),
        ("co.L3.2", "출시 전 사용자 5명과 프로토타입을 테스트하지 않았다.", True),
    ],
)
def test_negation_denies_a_cue_only_outside_its_own_words(indicator: str, sentence: str, denied: bool) -> None:
    sentences = [Sentence(sentence, 0, len(sentence))]
    i = CUES.ids.index(indicator)
    assert cue_matrix(sentences, CUES)[0, i], "the cue must fire for the test to mean anything"
    flags = sentence_flags(sentences)
    assert bool(cue_denials(sentences, CUES, flags["negated"])[0, i]) is denied


@pytest.mark.parametrize(
    "sentence, negated",
    [
        # a Korean negation that only describes a noun does not deny what was done
        ("다들 복잡하다고 했지만 근본 원인은 기존 데이터를 가져오지 못하는 데 있었습니다.", False),
        ("그동안 연락이 없던 고객 30명에게 직접 전화했다.", False),
        ("가격이 아닌 배송 안내를 고쳤다.", False),
        ("고객도 생각하지 못했던 방법을 제안했다.", False),
        # ... but before 것/채/적 … it still does, and so does a negated verb
        ("고객에게 묻지 않은 채 기능을 만들었다.", True),
        ("리뷰를 확인하지 않은 적이 많았다.", True),
        ("기존 데이터를 가져오는 기능이 없는 것이 문제였다.", True),
        ("출시 전에 사용자와 테스트하지 않았다.", True),
        ("We never asked the users who had left.", True),
        ("고객 문의에 안 답하고 넘겼다.", True),
        ("환불은 제 일이 아닙니다.", True),
        # 안 and 못 inside a word are no negation
        ("두 달 동안 고객 이탈을 막을 방안 세 가지를 제안 드렸다.", False),
        ("잘못된 배송 안내를 바로잡았다.", False),
    ],
)
def test_a_korean_negation_that_only_describes_a_noun_does_not_negate_the_sentence(sentence: str, negated: bool) -> None:
    assert bool(sentence_flags([Sentence(sentence, 0, len(sentence))])["negated"][0]) is negated


def test_a_root_cause_beside_a_korean_noun_negation_is_not_denied() -> None:
    sentence = "근본 원인은 기존 데이터를 가져오지 못하는 데 있었습니다."
    sentences = [Sentence(sentence, 0, len(sentence))]
    i = CUES.ids.index("co.L3.3")
    assert cue_matrix(sentences, CUES)[0, i], "the cue must fire for the test to mean anything"
    assert not cue_denials(sentences, CUES, sentence_flags(sentences)["negated"])[0, i]


def test_sentences_without_a_cue_keep_their_negation_flag() -> None:
    sentences = [Sentence(t, 0, len(t)) for t in ("The server did not restart last night.", "팀원들과 휴가 일정을 공유했다.")]
    flags = sentence_flags(sentences)
    assert not cue_matrix(sentences, CUES).any()
    assert cue_denials(sentences, CUES, flags["negated"]).tolist() == [
        [bool(flags["negated"][0])] * len(CUES.ids), [False] * len(CUES.ids)
    ]
