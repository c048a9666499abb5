"""`python -m training.data`: checksums decide what is kept, ../shared/data is used as it is, and absent data is
named plainly (file:// sources here: no network)."""

import hashlib

import pytest

from training import data
from training.data import DataFile, Dataset

GOOD, BAD = b"the right bytes\n" * 100, b"the wrong bytes\n" * 100


@pytest.fixture
def sources(tmp_path):
    """A good and a corrupted copy of one file, as file:// URLs, and a URL that points nowhere."""
    (tmp_path / "good").write_bytes(GOOD)
    (tmp_path / "bad").write_bytes(BAD)
    return {k: (tmp_path / k).as_uri() for k in ("good", "bad", "absent")}


@pytest.fixture
def toy(tmp_path, monkeypatch, sources):
    """A one-file dataset; ../shared/data and .data/ swapped for empty folders of tmp_path."""
    f = DataFile("toy.bin", len(GOOD), hashlib.md5(GOOD).hexdigest(), (sources["absent"], sources["good"]))
    monkeypatch.setattr(data, "datasets", lambda: {"toy": Dataset("toy", "toys", "A toy dataset", (f,))})
    monkeypatch.setattr(data, "SHARED", tmp_path / "shared")
    monkeypatch.setattr(data, "LOCAL", tmp_path / "local")
    monkeypatch.setattr(data, "ROOTS", (data.SHARED, data.LOCAL))
    return f


def test_a_good_file_is_kept_and_a_corrupted_one_refused(tmp_path, sources):
    md5 = hashlib.md5(GOOD).hexdigest()
    dest = tmp_path / "out.bin"
    assert data.fetch_file(DataFile("out.bin", len(GOOD), md5, (sources["bad"], sources["good"])), dest) is None
    assert dest.read_bytes() == GOOD  # the corrupted mirror was refused, the next one kept
    why = data.fetch_file(DataFile("out.bin", len(GOOD), md5, (sources["bad"],)), tmp_path / "again.bin")
    assert "wrong MD5" in why and not (tmp_path / "again.bin").exists()


def test_prepare_fetches_into_local_and_then_finds_it_sound(toy, tmp_path, capsys):
    assert data.main(["toy"]) == 0
    assert (tmp_path / "local" / "toys" / "toy.bin").read_bytes() == GOOD
    assert data.folder("toy") == tmp_path / "local" / "toys"

    def offline(url, dest):
        raise AssertionError("a sound file must not be fetched again")

    assert data.prepare("toy", fetch=offline) == []


def test_a_sound_shared_copy_is_used_as_it_is(toy, tmp_path):
    (tmp_path / "shared" / "toys").mkdir(parents=True)
    (tmp_path / "shared" / "toys" / "toy.bin").write_bytes(GOOD)

    def offline(url, dest):
        raise AssertionError("no fetch when ../shared/data holds the file")

    said = []
    assert data.prepare("toy", fetch=offline, say=said.append) == []
    assert "nothing fetched" in said[0] and not (tmp_path / "local").exists()
    assert data.folder("toy") == tmp_path / "shared" / "toys"


def test_a_corrupted_shared_copy_is_not_trusted(toy, tmp_path):
    (tmp_path / "shared" / "toys").mkdir(parents=True)
    (tmp_path / "shared" / "toys" / "toy.bin").write_bytes(BAD)
    assert data.prepare("toy", say=lambda _: None) == []
    assert (tmp_path / "local" / "toys" / "toy.bin").read_bytes() == GOOD


def test_without_any_source_each_missing_file_is_named_and_the_exit_is_1(toy, monkeypatch, capsys, sources):
    files = (DataFile("toy.bin", toy.size, toy.md5, (sources["absent"],)),
             DataFile("two.bin", 3, "0" * 32, (sources["absent"], sources["bad"])))
    monkeypatch.setattr(data, "datasets", lambda: {"toy": Dataset("toy", "toys", "A toy dataset", files)})
    assert data.main(["toy"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in err[:2]] == [f"missing: {data.LOCAL / 'toys' / n}"
                                                         for n in ("toy.bin", "two.bin")]
    assert err[2].startswith("A toy dataset: download the files above into") and len(err) == 3
    assert data.main(["nope"]) == 2


def test_a_training_script_without_data_says_what_is_missing(tmp_path):
    from training.mnist import load_mnist
    from training.novels import load_books

    with pytest.raises(SystemExit) as e:
        data.exit_plainly(lambda: load_mnist(tmp_path, "test"))
    lines = str(e.value.code).splitlines()
    wanted = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    assert lines[:2] == [f"missing: {tmp_path / n}" for n in wanted]
    assert "python -m training.data mnist" in lines[2]
    with pytest.raises(data.MissingData, match="python -m training.data gutenberg"):
        load_books(tmp_path)


def test_the_manifest_matches_the_shared_md5sums():
    sums = data.SHARED / "MD5SUMS"
    if not sums.exists():
        pytest.skip(f"{sums} is absent (this project's shared data is not beside the checkout)")
    listed = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    for ds in data.datasets().values():
        for f in ds.files:
            assert listed[f"./{ds.subfolder}/{f.name}"] == f.md5, f.name
