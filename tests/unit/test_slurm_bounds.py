import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm.bounds import tail_text


def test_tail_text_short_is_untouched() -> None:
    t = tail_text("hello\n", 100)
    assert (t.text, t.total_bytes, t.truncated) == ("hello\n", 6, False)


def test_tail_text_keeps_the_end() -> None:
    t = tail_text("abcdef", 3)
    assert (t.text, t.total_bytes, t.truncated) == ("def", 6, True)


@pytest.mark.parametrize("char", ["é", "中", "😀"])
@pytest.mark.parametrize("max_bytes", range(0, 13))
def test_tail_text_cuts_on_character_boundaries(char: str, max_bytes: int) -> None:
    text = char * 5
    t = tail_text(text, max_bytes)
    assert len(t.text.encode()) <= max_bytes
    assert set(t.text) <= {char}  # no replacement characters from a split sequence
    assert text.endswith(t.text)
    width = len(char.encode())
    assert len(t.text) == min(5, max_bytes // width)


def test_tail_text_bytes_already_cut_by_tail_c() -> None:
    data = "日本語".encode()[1:]  # `tail -c` began inside the first character
    t = tail_text(data, 100, already_cut=True)
    assert t.text == "本語" and t.truncated is False


def test_tail_text_invalid_bytes_replaced() -> None:
    t = tail_text(b"ok\xff\xfe end", 100)
    assert t.text.startswith("ok") and t.text.endswith(" end") and "\ufffd" in t.text


def test_tail_text_surrogate_escaped_input() -> None:
    text = b"log \xff line".decode("utf-8", "surrogateescape")
    assert tail_text(text, 100).total_bytes == len(b"log \xff line")
    assert tail_text("lone \ud800 surrogate", 100).text.endswith("surrogate")


@pytest.mark.parametrize("max_bytes", [-1, True, 2.0])
def test_tail_text_bad_size(max_bytes: object) -> None:
    with pytest.raises(HpcError):
        tail_text("x", max_bytes)  # type: ignore[arg-type]
