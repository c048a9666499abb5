"""The image check in plain words: a short table with plain labels instead of IPTC URLs and settings JSON (the API
keeps its JSON answer)."""

import json

from ui.kit.errors import render
from ui.kit.registry import table

# IPTC's digital source types (cv.iptc.org/newscodes/digitalsourcetype) a person meets, by their code
SOURCES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "digitalCapture",
           "compositeSynthetic", "digitalArt")


def source_words(url: str, lang: str) -> str:
    """An IPTC digital source type URL in plain words ("made by a trained AI model"); an unknown one by its code."""
    code = url.rstrip("/").rsplit("/", 1)[-1]
    return render(f"provenance_src_{code}", {}, lang) if code in SOURCES else code


def settings_words(settings) -> str:
    """{"digit": 3, "seed": 0} (or its JSON text) as "digit 3 · seed 0"."""
    if isinstance(settings, str):
        try:
            settings = json.loads(settings)
        except ValueError:
            return settings
    if not isinstance(settings, dict):
        return "—"
    return " · ".join(f"{k} {v}" for k, v in settings.items())


def image_table(result: dict, settings, where: str, lang: str) -> str:
    """Where the image came from, as rows of plain label and value."""
    rows = [("provenance_t_source", render("provenance_t_where", dict(
        what=source_words(result["digital_source_type"], lang), where=where), lang)
             if result["digital_source_type"] else render("provenance_t_unknown", {}, lang)),
            ("provenance_t_maker", result["generator"] or render("provenance_t_unknown", {}, lang))]
    if result["generator"] and settings:
        rows.append(("provenance_t_settings", settings_words(settings)))
    head = render("provenance_t_head", {}, lang).replace("；", ";").split(";")
    return "\n".join([f"| {head[0].strip()} | {head[1].strip()} |", "|---|---|",
                      *(f"| {render(k, {}, lang)} | {v} |" for k, v in rows)])


MESSAGES = table("""
provenance_t_head: What the file says; Answer | 文件说明的内容；结果
provenance_t_source: How it was made | 如何生成
provenance_t_maker: Made by | 生成者
provenance_t_settings: Settings | 设置
provenance_t_where: {what} ({where}) | {what}（来源：{where}）
provenance_t_unknown: nothing says | 没有说明
provenance_src_trainedAlgorithmicMedia: made by a trained AI model | 由训练过的 AI 模型生成
provenance_src_compositeWithTrainedAlgorithmicMedia: edited with a trained AI model | 用训练过的 AI 模型编辑过
provenance_src_algorithmicMedia: computed by a program, no trained model | 由程序计算生成，未用训练过的模型
provenance_src_digitalCapture: taken by a camera or scanner | 由相机或扫描仪拍摄
provenance_src_compositeSynthetic: a composite with synthetic parts | 含合成部分的拼合图
provenance_src_digitalArt: drawn or painted by a person on a computer | 由人在电脑上绘制
""")
