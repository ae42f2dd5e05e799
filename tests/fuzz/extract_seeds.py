#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/.

Seeds come from the byte fixtures of the unit tests (the C++ string literals of
tests/unit/*_test.cpp, adjacent literals joined, escapes decoded), the Redis commands of
tests/integration/corpus-memcached/ (for memcached_translate, each followed by memcached
responses), and a list of memcached responses below. Each file is named by the SHA-1 of its
bytes, as libFuzzer names corpus files, so running this again adds nothing twice.
Run it once to start a corpus; scripts/fuzz.sh then grows and minimizes it."""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"

LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"(?:s\b)?')
SIMPLE_ESCAPES = {"n": 10, "r": 13, "t": 9, "v": 11, "f": 12, "a": 7, "b": 8, "0": 0,
                  "\\": 92, '"': 34, "'": 39, "?": 63}


def decode(body):
    """The bytes of a C++ string literal's body."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        if e == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
        elif e in "01234567" and re.match(r"[0-7]{1,3}", body[i + 1:]):
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        else:
            out.append(SIMPLE_ESCAPES.get(e, ord(e)))
            i += 2
    return bytes(out)


def literals(path):
    """Every literal of a source file, adjacent literals joined into one."""
    text = path.read_text()
    text = re.sub(r"//[^\n]*", "", text)
    found = []
    last_end = -1
    for m in LITERAL.finditer(text):
        value = decode(m.group(1))
        if found and text[last_end:m.start()].strip() == "":
            found[-1] += value
        else:
            found.append(value)
        last_end = m.end()
    return found


def write(target, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def protocol_seeds(pattern, target):
    """Literals with a line ending, each alone and joined in threes (pipelines)."""
    seeds = []
    for path in sorted((ROOT / "tests" / "unit").glob(pattern)):
        seeds += [s for s in literals(path) if b"\n" in s and len(s) < 4096]
    for s in seeds:
        write(target, s)
    for i in range(0, len(seeds) - 2, 3):
        write(target, b"".join(seeds[i:i + 3]))


MEMCACHED_RESPONSES = [
    b"HD\r\n", b"HD c123 t-1\r\n", b"EN\r\n", b"NS\r\n", b"EX\r\n", b"NF\r\n", b"MN\r\n",
    b"OK\r\n", b"ERROR\r\n", b"CLIENT_ERROR bad data chunk\r\n",
    b"SERVER_ERROR out of memory storing object\r\n", b"VA 0\r\n\r\n",
    b"VA 5 t100 c7 f0\r\nhello\r\n", b"VA 2 W Z t-1\r\n\r\n\r\n", b"VA 3 s3 k\r\nabc\r\nHD\r\n",
    b"VA 10 t1\r\nabc", b"VA -1\r\n", b"VA 99999999999999999999\r\n", b"HD\n", b"\r\n",
    b"VA 3\r\nabcXY", b"HDX\r\n", b"VA 1 b\r\nx\r\nEN\r\nHD\r\nMN\r\n",
]

TRANSLATE_RESPONSES = [
    b"HD c5 t-1\r\nHD\r\n",
    b"VA 3 t100 c7 f0\r\nabc\r\nHD c8\r\n",
    b"EN\r\nNS\r\nEX\r\nNF\r\n",
]


def translate_seeds():
    for path in sorted((ROOT / "tests" / "integration" / "corpus-memcached").glob("*.redis")):
        session = b""
        for line in path.read_bytes().splitlines():
            if not line.strip() or line.startswith(b"#"):
                continue
            if line.startswith(b"@"):
                line = line.split(b" ", 1)[1] if b" " in line else b""
            for i, responses in enumerate(TRANSLATE_RESPONSES):
                if i == 0 or len(line) % len(TRANSLATE_RESPONSES) == i:
                    write("memcached_translate", line + b"\r\n" + responses)
            session += line + b"\r\n" + TRANSLATE_RESPONSES[1]
        write("memcached_translate", session)


def main():
    protocol_seeds("request_framer*_test.cpp", "request_framer")
    protocol_seeds("reply_scanner*_test.cpp", "reply_scanner")
    for s in literals(ROOT / "tests" / "unit" / "inline_split_test.cpp"):
        if len(s) < 4096:
            write("inline_split", s)
    for r in MEMCACHED_RESPONSES:
        write("memcached_response", r)
    write("memcached_response", b"".join(MEMCACHED_RESPONSES[:12]))
    translate_seeds()
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} files")


if __name__ == "__main__":
    main()
