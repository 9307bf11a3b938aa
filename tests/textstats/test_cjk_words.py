"""Chinese and Japanese characters count as word-like units wherever words are counted; ASCII text's
words are what they always were."""
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sft_select.core.record import Example, Turn
from sft_select.preprocess.config import FilterConfig
from sft_select.preprocess.filters import filter_reason
from sft_select.textstats import signals
from sft_select.views.quality_heuristic import QualityHeuristic

ZH = ("机器学习是人工智能的一个分支，它使计算机能够在没有明确编程的情况下从数据中学习。"
      "机器学习算法通过分析大量数据来识别模式，并利用这些模式对新数据做出预测或决策。"
      "常见的机器学习方法包括监督学习、无监督学习和强化学习。在监督学习中，模型使用带有标签的数据进行训练；"
      "在无监督学习中，模型需要自己发现数据中的结构；而在强化学习中，智能体通过与环境的交互来学习最优策略。")


def _chat(prompt: str, response: str) -> Example:
    return Example(id="x", source="t.jsonl", row=0, format="alpaca", original={},
                   turns=(Turn("user", prompt), Turn("assistant", response)))


def test_each_han_and_kana_character_is_a_word():
    assert signals.words("北京是中国的首都。") == list("北京是中国的首都")
    assert len(signals.words("東京は日本の首都です。")) == 10
    assert signals.words("ｶﾀｶﾅ 𠀀 OK") == ["ｶ", "ﾀ", "ｶ", "ﾅ", "𠀀", "ok"]  # half-width kana, Han plane 2
    assert len(signals.word_tokens("北京是中国的首都。")) == signals.tokens("北京是中国的首都。") == 8


def test_korean_and_latin_words_are_split_on_spaces():
    assert signals.words("안녕하세요 만나서 반갑습니다") == ["안녕하세요", "만나서", "반갑습니다"]
    assert signals.words("Grüße aus München") == ["grüße", "aus", "münchen"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_ascii_words_are_unchanged(text):
    assert signals.words(text) == re.findall(r"\w+", text.lower())
    assert [t.decode() for t in signals.word_tokens(text)] == signals.words(text)


def test_a_short_chinese_answer_is_long_enough_for_the_quality_view():
    view = QualityHeuristic()
    assert view.signals_of(_chat("中国的首都是哪里？", "北京是中国的首都。"))["length"] == 1.0


def test_chinese_ngrams_span_about_two_characters_a_word():
    # natural prose repeats characters far more often than words: a 3-character window read as repetition
    assert signals.duplicate_ngram_ratio(signals.word_tokens(ZH)) < 0.05
    assert signals.duplicate_ngram_ratio(signals.word_tokens("我们一起去公园散步吧。" * 8)) > 0.8


def test_the_repetition_filters_judge_a_looping_chinese_answer():
    assert filter_reason(_chat("写一首诗。", "我爱你" * 100), FilterConfig()) == "filter_repeated_ngram"
    assert filter_reason(_chat("什么是机器学习？", ZH), FilterConfig()) is None
