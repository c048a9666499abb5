"""The fine-tune tab's result as a plain table, in both languages (its API keeps the JSON)."""

from ui.tabs.finetune_plain import summary_table

SUMMARY = {"perplexity_before": 80.0, "perplexity_after": 60.0, "steps_done": 120, "seconds": 41.27,
           "tokens_per_s": 3456.7}


class Request:
    def __init__(self, accept: str):
        self.headers, self.cookies = {"accept-language": accept}, {}


def test_the_summary_reads_as_a_table_with_plain_labels():
    text = summary_table(SUMMARY, request=Request("en"))
    assert "| Surprise at your held-out text, before (perplexity) | 80.0 |" in text
    assert "| The same, after | 60.0 (25% lower) |" in text and "| Time (seconds) | 41.3 |" in text
    assert "3,457" in text and "perplexity_before" not in text and "lower means" in text
    assert summary_table(None, request=Request("en")) == ""  # before the first training


def test_in_chinese():
    text = summary_table(SUMMARY, request=Request("zh-CN,zh;q=0.9"))
    assert "| 项目 | 实测 |" in text and "60.0（降低 25%）" in text and "Surprise" not in text
