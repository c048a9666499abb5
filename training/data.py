"""The training data, for anyone: `python -m training.data` fetches MNIST and the Gutenberg books from their public
sources, checks each file's MD5 and puts them where the training scripts look.

    python -m training.data            # every dataset; nothing is fetched that is already here and sound
    python -m training.data mnist      # one of: mnist, gutenberg

A checkout with ../shared/data beside it (this project's machines) uses that folder as it is, offline. Elsewhere the
files go to .data/ in the checkout (git-ignored). Without either and without internet it says what is missing, and
where to get it, one line per file, and exits 1.
"""

import hashlib
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"  # read-only on this project's machines: looked at, never written
LOCAL = REPO / ".data"  # where fetched files go
ROOTS = (SHARED, LOCAL)

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "http://yann.lecun.com/exdb/mnist/")  # the original home
# The books are the unmodified Project Gutenberg files (licence header and footer kept) as this commit holds them;
# gutenberg.org serves newer editions of the same eBooks, whose bytes (and so MD5s) differ.
BOOKS_REPO = "https://raw.githubusercontent.com/RU-ECE/ECE451-Parallel/c58dca3a6abedd8041057571c247e9a393cc3b4d/"
BOOKS_AT_TOP = {"pg108.txt", "pg11703.txt", "pg1661.txt", "pg521.txt", "pg834.txt"}  # data/, not data/books/


@dataclass(frozen=True)
class DataFile:
    name: str
    size: int
    md5: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    name: str
    subfolder: str  # below a data root, as ../shared/data lays it out
    about: str
    files: tuple[DataFile, ...]


class MissingData(FileNotFoundError):
    """A training input is absent; the message says which files and how to get them, in plain words."""


def _mnist() -> Dataset:
    files = (("train-images-idx3-ubyte.gz", 9_912_422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
             ("train-labels-idx1-ubyte.gz", 28_881, "d53e105ee54ea40749a09fcbcd1e9432"),
             ("t10k-images-idx3-ubyte.gz", 1_648_877, "9fb629c4189551a2d022fa330f9573f3"),
             ("t10k-labels-idx1-ubyte.gz", 4_542, "ec29112dd5afa0611ce80d1b7f02629c"))  # the published MD5s
    return Dataset("mnist", "mnist", "MNIST digits (LeCun, Cortes, Burges; CC BY-SA 3.0)",
                   tuple(DataFile(n, s, m, tuple(u + n for u in MNIST_MIRRORS)) for n, s, m in files))


def _gutenberg() -> Dataset:
    files = tuple(DataFile(n, s, m, (BOOKS_REPO + ("data/" if n in BOOKS_AT_TOP else "data/books/") + n,))
                  for n, s, m in BOOKS)
    return Dataset("gutenberg", "text/gutenberg", "48 Project Gutenberg novels (public domain in the US)", files)


def datasets() -> dict[str, Dataset]:
    return {d.name: d for d in (_mnist(), _gutenberg())}


def folder(name: str) -> Path:
    """Where the scripts read dataset `name`: the first root that holds all its files (by name), else .data/."""
    ds = datasets()[name]
    for root in ROOTS:
        if all((root / ds.subfolder / f.name).is_file() for f in ds.files):
            return root / ds.subfolder
    return LOCAL / ds.subfolder


def missing(name: str, where: Path | None = None) -> list[DataFile]:
    """The files of dataset `name` absent from `where` (default: its folder); names only, no checksums."""
    where = folder(name) if where is None else Path(where)
    return [f for f in datasets()[name].files if not (where / f.name).is_file()]


def require(name: str, where: Path, needed: list[str] | None = None) -> None:
    """Raises MissingData, one plain line per absent file, when `where` lacks `needed` (default: every file)."""
    absent = [f for f in missing(name, where) if needed is None or f.name in needed]
    if absent:
        lines = [f"missing: {Path(where) / f.name}" for f in absent]
        raise MissingData("\n".join(lines + [how_to_get(name)]))


def how_to_get(name: str, fetching: bool = False) -> str:
    ds, where = datasets()[name], LOCAL / datasets()[name].subfolder
    get = (f"download the files above into {where} (each with its MD5)" if fetching else
           f"run `python -m training.data {name}` (needs internet)")
    return f"{ds.about}: {get}, or put this project's shared/data beside the checkout, or pass --data FOLDER."


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, timeout: float = 30.0) -> None:
    """`url` to `dest` (replaced whole, never left half-written)."""
    part = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    os.replace(part, dest)


def fetch_file(f: DataFile, dest: Path, fetch=download) -> str | None:
    """Puts a sound copy of `f` at `dest` from its first source that gives one; returns None, or why not in a line."""
    reasons = []
    for url in f.urls:
        try:
            fetch(url, dest)
        except OSError as e:  # URLError, timeouts, refused connections are all OSErrors
            reasons.append(str(getattr(e, "reason", None) or e))
            continue
        if md5sum(dest) == f.md5:
            return None
        dest.unlink()
        reasons.append(f"wrong MD5 from {url} (refused)")
    mirrors = f" (+{len(f.urls) - 1} mirror{'s' * (len(f.urls) > 2)})" if len(f.urls) > 1 else ""
    return f"from {f.urls[0]}{mirrors}: {'; '.join(dict.fromkeys(reasons))}"


def prepare(name: str, fetch=download, say=print) -> list[str]:
    """Makes dataset `name` whole and sound where the scripts read it; returns one line per file still missing."""
    ds = datasets()[name]
    shared = SHARED / ds.subfolder
    if all(_sound(shared / f.name, f) for f in ds.files):
        say(f"{name}: {len(ds.files)} files in {shared}, checksums good (nothing fetched)")
        return []
    local, problems, fetched = LOCAL / ds.subfolder, [], 0
    local.mkdir(parents=True, exist_ok=True)
    for f in ds.files:
        dest = local / f.name
        if _sound(dest, f):
            continue
        if _sound(shared / f.name, f):
            shutil.copyfile(shared / f.name, dest)  # shared lacks others: .data/ must hold the whole set
            continue
        why = fetch_file(f, dest, fetch)
        fetched += why is None
        if why:
            problems.append(f"missing: {dest} ({f.size:,} bytes, md5 {f.md5}), {why}")
    say(f"{name}: {len(ds.files) - len(problems)} of {len(ds.files)} files sound in {local} ({fetched} fetched)")
    return problems


def _sound(path: Path, f: DataFile) -> bool:
    return path.is_file() and path.stat().st_size == f.size and md5sum(path) == f.md5


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(datasets())
    unknown = [n for n in names if n not in datasets()]
    if unknown:
        print(f"unknown dataset {', '.join(unknown)}; known: {', '.join(datasets())}", file=sys.stderr)
        return 2
    problems = []
    for name in names:
        found = prepare(name)
        if found:
            problems += found + [how_to_get(name, fetching=True)]
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


def exit_plainly(main_fn) -> None:
    """Runs a training script's main; absent data ends it with MissingData's lines, not a traceback."""
    try:
        main_fn()
    except MissingData as e:
        sys.exit(str(e))


BOOKS = (  # (file, bytes, md5): the files as the source commit holds them
    ("11-0.txt", 173_597, "2e2dde7d586e5ffb34d1b850eb972b76"),  # PG 11, Alice’s Adventures in Wonderland
    ("1184-0.txt", 2_787_780, "ee0ab05ba231db2abcfdce733fc9c17b"),  # PG 1184, The Count of Monte Cristo
    ("120-0.txt", 396_594, "59244e5f2c3c31d93ad3d1c51ae8a6f4"),  # PG 120, Treasure Island
    ("1237-0.txt", 612_270, "8ba8efaef3ca2206631e6b31d6f9faff"),  # PG 1237, Father Goriot
    ("145-0.txt", 1_865_982, "ff33d0fb5275ec9b01a332f0b4978beb"),  # PG 145, Middlemarch
    ("158-0.txt", 927_445, "a77a011019cda6d562a61fda359701f2"),  # PG 158, Emma
    ("203-0.txt", 1_075_565, "a29e344b9f3492af02aff49b86a1304e"),  # PG 203, Uncle Tom’s Cabin
    ("219-0.txt", 234_089, "81009416a5634d97e5ea4adf387f7c9e"),  # PG 219, Heart of Darkness
    ("244-0.txt", 272_277, "51ca4015fc3c6265fc93123b3b8be86e"),  # PG 244, A Study In Scarlet
    ("25344-0.txt", 525_464, "4958553be1483e4cbd615ce5fa73f6ab"),  # PG 25344, The Scarlet Letter
    ("2591-0.txt", 560_162, "a267bbd3116f39575adf08ae86d36f21"),  # PG 2591, Grimms’ Fairy Tales
    ("2600-0.txt", 3_359_549, "c582834fc6a3af03ddf912cb12e22016"),  # PG 2600, War and Peace
    ("2701-0.txt", 1_276_201, "b0ad726bfecf30285632a619e0bf2763"),  # PG 2701, Moby Dick; or The Whale
    ("28054-0.txt", 2_044_194, "409fcebd7053312b097b7866f5745851"),  # PG 28054, The Brothers Karamazov
    ("2852-0.txt", 388_106, "849e61f1fec1fab2c97cec1fb302019f"),  # PG 2852, The Hound of the Baskervilles
    ("308-0.txt", 395_571, "07344f7dbea1c42597a3ee377d9ea361"),  # PG 308, Three Men in a Boat
    ("35-0.txt", 204_492, "084c4ccf7772d648f3fe33cc7cf09508"),  # PG 35, The Time Machine
    ("36-0.txt", 366_828, "7b923f1d431b74dea17a33f5949dfa5f"),  # PG 36, The War of the Worlds
    ("41-0.txt", 90_994, "d99c70feef002e79428f056c9ab0a8fb"),  # PG 41, The Legend of Sleepy Hollow
    ("43-0.txt", 163_464, "6384e4fac0a3cd1ef22e1526713046f2"),  # PG 43, The Strange Case Of Dr. Jekyll And Mr. Hyde
    ("46-0.txt", 182_057, "c7af74c086d0a1e574fc01b30648fed6"),  # PG 46, A Christmas Carol
    ("6688-0.txt", 1_212_752, "3d78a4e21abeda5adadd48fbbfd6df5d"),  # PG 6688, The Mill on the Floss
    ("74-0.txt", 428_104, "6cb74e61f2b115f5a83ae407d5fccaa2"),  # PG 74, The Adventures of Tom Sawyer, Complete
    ("76-0.txt", 616_320, "2d1c32295476f6d9fe40ae954a2829e4"),  # PG 76, Adventures of Huckleberry Finn, Complete
    ("766-0.txt", 2_033_139, "a5c961ac713a545842ae68e007acceca"),  # PG 766, David Copperfield
    ("829-0.txt", 611_929, "f71a88ec674a7bf246e167b982360692"),  # PG 829, Gulliver's Travels
    ("940-0.txt", 890_282, "982165148034b97bbec3e7818754b907"),  # PG 940, The Last of the Mohicans
    ("98-0.txt", 804_335, "6373ee9db053f480be62803c9ff4d561"),  # PG 98, A Tale of Two Cities
    ("Anna_Karenina_LeoTolstoy.txt", 2_068_089, "19a1269a4562e2bc2b838befae1ceb47"),  # PG 1399, Anna Karenina
    ("Anne-of-Green-Gables.txt", 596_214, "2e531c276eff7aa8d1c4d794fb732539"),  # PG 45, Anne of Green Gables
    ("Great_Expectations_CharlesDickens.txt", 1_049_619, "c1bea8fc7cefdcd6f8efb68f8583a7db"),  # PG 1400, Great Expec…
    ("pg108.txt", 719_662, "4659bb2ecee8c588b0f218cde7c236c8"),  # PG 108, The Return of Sherlock Holmes
    ("pg11703.txt", 714_049, "52707c1a7fdb14be7e49c6522a84adc8"),  # PG 11703, The Swiss Family Robinson; or Adventur…
    ("pg1260.txt", 1_070_331, "a8fb6b1d4f5e0b24e6c735e56c9028ec"),  # PG 1260, Jane Eyre
    ("pg128.txt", 629_028, "da4ba193b3b4f73fe49eb2539715a621"),  # PG 128, The Arabian Nights Entertainments
    ("pg161.txt", 706_124, "fb64a4bd8ee8634e13c58738ea8625e2"),  # PG 161, Sense and Sensibility
    ("pg1661.txt", 607_678, "e4bf5a15213e83b11cce8cf54f26be00"),  # PG 1661, The Adventures of Sherlock Holmes
    ("pg174.txt", 462_075, "b55d6d7b6f0dce481a1eb10c0d1b9dde"),  # PG 174, The Picture of Dorian Gray
    ("pg345.txt", 883_160, "fccd3f96d461f495a3bef31dc1d28f01"),  # PG 345, Dracula
    ("pg521.txt", 654_002, "7bb21ac0cbd98efb64218cfb7f195f59"),  # PG 521, The Life and Adventures of Robinson Crusoe
    ("pg55.txt", 232_779, "578f8d903fb576ba1b16eebabd57702f"),  # PG 55, The Wonderful Wizard of Oz
    ("pg55539.txt", 265_367, "dc126180a760e687c7044aae9a5c1272"),  # PG 55539, Korean Tales
    ("pg60374.txt", 280_705, "038ca91cc9c97278cd69695ddbc67c57"),  # PG 60374, The Clockwork Man
    ("pg7256.txt", 31_312, "f7625d90566ebd4b50a6d7c2d68f1772"),  # PG 7256, The Gift of the Magi
    ("pg768.txt", 681_638, "986fd38bc2f3b9fd5dabc57dd559f084"),  # PG 768, Wuthering Heights
    ("pg834.txt", 612_932, "f163270ee097497899b0b8d615a98734"),  # PG 834, The Memoirs of Sherlock Holmes
    ("Pride_and_Prejudice_JaneAusten.txt", 724_726, "f83bd29d587a447ec6df6e2be19f514e"),  # PG 1342, Pride and Prejud…
    ("The-Dunwich-Horror.txt", 123_382, "ee043dda8f9cac2c33fa4504d837de54"),  # PG 50133, The Dunwich Horror
)

if __name__ == "__main__":
    sys.exit(main())
