from retrieval.tokenize import detect_lang, question_lang, tokenize


def test_identifiers_are_kept_whole_and_split() -> None:
    toks = tokenize("Use model_config and BackgroundTasks.add_task")
    assert "model_config" in toks and "model" in toks and "config" in toks
    assert "background" in toks and "task" in toks  # CamelCase split, stemmed
    assert "add_task" in toks


def test_english_is_stemmed_and_stopwords_dropped() -> None:
    toks = tokenize("The validators are validating")
    assert "the" not in toks and "are" not in toks
    assert tokenize("validator") == [toks[0]]


def test_chinese_is_segmented_into_words() -> None:
    toks = tokenize("如何使用后台任务")
    assert "后台" in toks and "任务" in toks
    assert "如何使用后台任务" not in toks


def test_detect_lang() -> None:
    assert detect_lang("如何配置跨域资源共享？") == "zh"
    assert detect_lang("How do I configure CORS?") == "en"
    assert detect_lang("在 FastAPI 中如何使用 `CORSMiddleware`") == "zh"


def test_a_chinese_question_around_a_pasted_english_error_is_chinese() -> None:
    q = "我执行 llamafactory-cli train examples/train_full/qwen2vl_full_sft.yaml 时出错，提示 ValueError"
    assert detect_lang(q) == "en"  # by bulk, as chunks are labelled
    assert question_lang(q) == "zh"  # but the user writes Chinese and is answered in Chinese
    assert question_lang("How do I set `model_config` in Pydantic v2?") == "en"
    assert question_lang("CORS 怎么用?") == "zh"
