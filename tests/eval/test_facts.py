"""The key-fact grader: technical tokens must appear verbatim, other words by half, and a fact in
another language than the answer is judged on its technical tokens only."""

from __future__ import annotations

from eval.facts import anchors, grade_fact, states_main_fact

FACT = "Set validate_by_name=True in model_config to accept the field name too"


def test_anchors_are_the_technical_tokens() -> None:
    found = anchors("Pass `--stage sft`, set USE_MODELSCOPE_HUB=1 or dataset_dir, e.g. on v2.9")
    assert found == ["--stagesft", "use_modelscope_hub=1", "dataset_dir", "2.9"]
    # Hyphenated prose and abbreviations are not flags or identifiers.
    assert anchors("a field-level option, i.e. per field") == []


def test_a_fact_needs_every_anchor_and_half_of_its_words() -> None:
    stated = "Set `validate_by_name = True` in the model_config, so the name is accepted."
    assert grade_fact(FACT, stated).stated
    # Same words without the setting: not stated, and the grade says what was missing.
    vague = "Set a flag in model_config so the field name is accepted too."
    grade = grade_fact(FACT, vague)
    assert not grade.stated and "validate_by_name=true" in grade.missing
    # The setting named, but none of what the fact says about it.
    assert not grade_fact(FACT, "Is validate_by_name=True deprecated in model_config?").stated
    assert not grade_fact("Fields are validated in definition order before the current one", "Order.").stated


def test_another_language_is_judged_on_anchors_only() -> None:
    zh_answer = "在 model_config 里设置 validate_by_name=True 即可 [1]。"
    assert grade_fact(FACT, zh_answer).stated
    assert not grade_fact(FACT, "在配置里打开按名称填充即可 [1]。").stated
    unjudged = grade_fact("Fields are validated in definition order", "字段按定义顺序校验。")
    assert not unjudged.judged
    assert states_main_fact(["Fields are validated in definition order"], "字段按定义顺序校验。") is None
    assert states_main_fact([], "anything") is None


def test_chinese_fact_in_a_chinese_answer() -> None:
    fact = "dataset_info.json 放在 dataset_dir 目录下，修改 dataset_dir 参数即可使用其他目录"
    assert grade_fact(fact, "把 dataset_info.json 放到新目录，再修改 dataset_dir 参数指向该目录即可。").stated
    assert not grade_fact(fact, "修改 dataset 参数即可使用其他目录。").stated
