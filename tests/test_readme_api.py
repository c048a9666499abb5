"""README's "Call it as an API" block is what people copy: each call in it names an endpoint the app serves, with no
more positional values than it takes and only keywords it has; and its cheap calls run as written."""

import ast
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _calls() -> list[ast.Call]:
    """The client.predict / client.submit calls of README's API block."""
    text = README.read_text()
    section = text[text.index("## Call it as an API"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return [node for node in ast.walk(ast.parse(block)) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr in ("predict", "submit")
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "client"]


def test_the_block_has_calls():
    """(Else the next test would pass on nothing.)"""
    assert len(_calls()) >= 10


def test_each_readme_call_fits_an_endpoint(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for call in _calls():
        keywords = {k.arg: k.value for k in call.keywords}
        name = ast.literal_eval(keywords.pop("api_name"))
        assert name in api, f"README calls {name}, which the app does not serve"
        params = [p["parameter_name"] for p in api[name]["parameters"]]
        assert len(call.args) <= len(params), f"{name}: {len(call.args)} positional values for {params}"
        assert set(keywords) <= set(params[len(call.args):]), f"{name}: {sorted(keywords)} not among {params}"


def test_the_shared_tls_context_client_downloads_the_walk(app_url, tmp_path):
    """README's client (one TLS context for every file) gets the walk's frames and GIF as local files, as the
    default client does."""
    import ssl

    import certifi
    from gradio_client import Client

    context = ssl.create_default_context(cafile=certifi.where())
    shared = Client(app_url, verbose=False, ssl_verify=context, download_files=str(tmp_path))
    frames, gif = shared.predict("3", 1, 2, 4, 1.0, api_name="/latent_walk")
    assert len(frames) == 4 and all(Path(f["image"]).is_file() for f in frames)
    assert Path(gif).read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_the_readme_vae_stream_loop_runs(client):
    """README's VAE loop prints each update's last output (its line); the frames come with the last update."""
    steps = 3
    job = client.submit("1", "7", steps, "spherical", 0, api_name="/interpolate_digits")
    lines = [update[-1] for update in job]
    assert lines and all(isinstance(line, str) for line in lines)
    frames, *_ = job.outputs()[-1]
    assert len(frames) == steps
