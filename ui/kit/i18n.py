"""The interface in English and Simplified Chinese: Gradio's frontend picks the browser's language.

`t("key")` stands for a string in component labels, buttons, tab names and Markdown; the browser shows EN or ZH.
The table is the app's own strings below plus each tab's `strings` (ui/kit/registry.py). Keys carry a prefix (app_,
or the tab's key) so they never meet Gradio's own translation keys ("label", "gallery", ...), and no dots, which
the frontend would read as nesting. `launch(i18n=i18n())` serves it (app.Playground does that).
"""

import functools

import gradio as gr

from ui.kit import cards
from ui.kit.figures import fill
from ui.kit.registry import Wording, merged, table, tabs

APP = table("""
app_title: # Generative AI playground | # 生成式 AI 体验场
app_header: The model families behind the question *bubble or future?*, live on real trained models. Every model here was trained by us on open data; the model cards give data, recipe and measured quality. | 围绕“泡沫还是未来？”这个问题的几类生成模型，全部是真实训练出来的模型，在线可玩。这里的每个模型都由我们在公开数据上训练；模型卡写明了数据、训练方法和实测质量。
app_cards: Model cards: how each model was trained and how good it measured | 模型卡：每个模型如何训练、实测效果如何
app_card_missing: is missing. | 尚不存在。
app_seed: Seed | 随机种子
app_steps: Steps | 步数
app_stop: Stop | 停止
app_frames: Frames | 帧
app_gif: Animated GIF | GIF 动图
app_link_result: Link to these settings | 这些设置的链接
app_link_label: Link (these settings and this seed give the same result) | 链接（同样的设置和种子给出同样的结果）
""")

# Gradio 6.31's own frontend strings that its zh-CN bundle lacks (so a Chinese page showed them in English): the
# footer's "Runs", the sketchpad's "select the draw tool to start", its tool names. Gradio's frontend adds the
# custom table before its own, and its own zh-CN has no such keys, so ours are used; tests/test_i18n_gradio.py
# fails when a later Gradio ships them (or renames them).
GRADIO_ZH = {
    "common.runs": "运行记录", "common.runs_description": "查看保存在此浏览器中的运行记录", "common.back_to_app": "应用",
    "common.back_to_app_description": "返回应用", "common.progress": "进度", "common.run": "运行",
    "common.download_all": "全部下载",
    "image_editor.select_draw_tool": "选择画笔工具开始绘制", "image_editor.brush": "画笔", "image_editor.erase": "橡皮擦",
    "image_editor.brush_size": "画笔大小", "image_editor.eraser_size": "橡皮擦大小", "image_editor.color": "颜色",
    "image_editor.clear_canvas": "清空画布", "image_editor.redo": "重做",
    "image_editor.pan": "平移", "image_editor.zoom_in": "放大", "image_editor.zoom_out": "缩小",
    "image_editor.fit_to_screen": "适应屏幕", "image_editor.upload": "上传", "image_editor.upload_image": "上传图片",
    "image_editor.webcam": "摄像头", "image_editor.crop": "裁剪", "image_editor.confirm_crop": "确认裁剪",
    "image_editor.resize": "调整大小", "image_editor.layer": "图层", "image_editor.layers": "图层",
    "image_editor.add_layer": "添加图层", "image_editor.show_layers": "显示图层", "image_editor.paste": "粘贴",
    "image_editor.save_changes": "保存更改",
}


@functools.cache
def strings() -> dict[str, Wording]:
    """Every interface string: the app's, each model card's text (ui/kit/cards.py), then each tab's title (key
    `<tab>_title`) and strings, a measured figure in them as {{model.key:format}} read from its metrics.json."""
    titles = {f"{tab.key}_title": tab.title for tab in tabs()}
    card_texts = cards.texts(path for tab in tabs() for _, path in tab.cards)
    return {key: (fill(en), fill(zh)) for key, (en, zh) in merged("strings", {**APP, **card_texts, **titles}).items()}


@functools.cache
def i18n() -> gr.I18n:
    """The table Gradio's frontend reads; "zh" also serves zh-TW/zh-HK browsers (zh-TW falls back to zh, then en)."""
    en = {k: v[0] for k, v in strings().items()}
    zh = GRADIO_ZH | {k: v[1] for k, v in strings().items()}
    return gr.I18n(en=en, **{"zh-CN": zh, "zh": zh})


def t(key: str):
    """A translatable string for a label, button, tab name or Markdown; an unknown key fails at build time."""
    if key not in strings():
        raise KeyError(f"no English text for i18n key {key!r}")
    return i18n()(key)
