"""Gradio's own frontend strings that its zh-CN bundle lacks are in our Chinese table (ui/kit/i18n.py GRADIO_ZH);
this fails when a Gradio upgrade ships or renames them, so the table is checked again then."""

import re
from pathlib import Path

import gradio as gr
import pytest

from ui.kit.i18n import GRADIO_ZH, i18n

ASSETS = Path(gr.__file__).parent / "templates" / "frontend" / "assets"


def bundle(pattern: str) -> str:
    (path,) = ASSETS.glob(pattern)
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("key", sorted(GRADIO_ZH))
def test_each_key_is_gradios_english_and_missing_from_its_chinese(key):
    name = key.split(".")[-1]
    assert re.search(rf"[,{{]{name}:`", bundle("core-*.js")), f"Gradio has no English {key} any more"
    assert not re.search(rf"[,{{]{name}:`", bundle("zh-CN-*.js")), f"Gradio's zh-CN has {key} now: drop ours"


def test_the_chinese_table_carries_them():
    served = i18n().translations_dict
    for locale in ("zh-CN", "zh"):
        assert served[locale]["common.runs"] == "运行记录"
        assert served[locale]["image_editor.select_draw_tool"] == GRADIO_ZH["image_editor.select_draw_tool"]
    assert "common.runs" not in served["en"]  # English keeps Gradio's own
