#!/usr/bin/env python3
"""Checks docker/ against the repository and the real binary (CTest: docker_files).

No Docker engine runs where the tests run, so this test checks that what docker/Dockerfile,
docker/compose.yml, docker/k8s-sidecar.yaml and docker/puppy-proxy.toml refer to exists:

* Dockerfile: COPY sources exist and are not excluded by Dockerfile.dockerignore; the build stage
  runs only repository scripts that CI (scripts/test) runs, with options they accept
  (install-deps.sh is asked for its packages with --print; build.sh's -D variables exist); the
  runtime packages exist in Debian 12 (apt-cache) and provide every shared library of the binary
  (ldd, dpkg -S) that debian:12-slim lacks; every flag of CMD/ENTRYPOINT is a puppy-proxy option,
  the HEALTHCHECK's options are Docker's and its command is a file the image gets; EXPOSE matches
  listen; USER is non-root; ENV names only PUPPY_* variables the binary reads.
* The proxy exits 0 within the drain timeout after SIGTERM (the grace periods rely on it).
* docker/puppy-proxy.toml: every key is an option; the binary starts with it.
* compose.yml and k8s-sidecar.yaml: every flag given to a puppy-proxy container is an option and
  the whole argument list is accepted by the binary (started for real, upstream hosts replaced by
  127.0.0.1); every PUPPY_* variable is one --help names; services, secrets and upstream hosts
  referred to exist; grace periods exceed the drain timeout; probes use the listening port.
* The HEALTHCHECK script against a running proxy: +PONG through a real redis-server (with AUTH
  from $PUPPY_REQUIREPASS), failure with a wrong password or an unreachable upstream.
* --self-test: the static checks must catch deliberately broken copies of the files.

Usage: check_docker_files.py --binary PATH [--root DIR] [--self-test] [--build DIR]
--build DIR runs the Dockerfile's build stage (its RUN lines, with PUPPY_BUILD_DIR=DIR) for real.
Python 3 standard library only.
"""

import argparse
import functools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Packages every debian:12-slim image has (libstdc++6 and libgcc-s1 come with apt).
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}
# Options of Docker's HEALTHCHECK instruction (not of puppy-proxy).
HEALTHCHECK_OPTIONS = {"--interval", "--timeout", "--start-period", "--start-interval", "--retries"}
# Interpreters a debian:12-slim image has.
BASE_INTERPRETERS = {"/bin/bash", "/bin/sh", "/usr/bin/bash", "/usr/bin/env"}
SANITIZER_LIB = re.compile(r"lib(asan|ubsan|tsan|lsan|hwasan)\.so")


class Report:
    """Collects failures and notes; every failure names the file it is about."""

    def __init__(self, quiet=False):
        self.errors = []
        self.notes = []
        self.quiet = quiet

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")

    def note(self, message):
        self.notes.append(message)
        if not self.quiet:
            print(f"note: {message}")


# --- the binary -----------------------------------------------------------------------------


class ProxyHelp:
    """Options and environment variables that `puppy-proxy --help` lists."""

    def __init__(self, binary):
        self.binary = binary
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True,
                             timeout=30).stdout
        self.text = out
        self.options = set(re.findall(r"^\s+(?:-\w,)?(--[a-z0-9][a-z0-9-]*)", out, re.M))
        self.env = set(re.findall(r"\b(PUPPY_[A-Z0-9_]+)\b", out))
        if "--listen" not in self.options or "--config" not in self.options:
            raise SystemExit(f"cannot read the options of {binary} --help:\n{out}")

    def default(self, option):
        m = re.search(rf"^\s+(?:-\w,)?{re.escape(option)} [^\n=]*=(\S+)", self.text, re.M)
        return m.group(1) if m else None


# --- a small YAML reader (the subset the docker/ files use) --------------------------------


class YamlError(Exception):
    pass


def _strip_comment(line):
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'" and (i == 0 or line[i - 1] in " \t[{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text):
    text = text.strip()
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise YamlError(f"unterminated string {text}")
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise YamlError(f"unterminated string {text}")
        return text[1:-1].replace("''", "'")
    if text[:1] in ("&", "*", "!", "@", "`", "%"):
        raise YamlError(f"unsupported YAML construct: {text}")
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~", ""):
        return None
    return text


class _Flow:
    """[a, b] and {k: v} with scalars and nested flow collections."""

    def __init__(self, text):
        self.s, self.i = text, 0

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def value(self):
        self.ws()
        ch = self.s[self.i:self.i + 1]
        if ch == "[":
            return self.collection("]", False)
        if ch == "{":
            return self.collection("}", True)
        if ch in ("'", '"'):
            j = self.i + 1
            while j < len(self.s):
                if self.s[j] == "\\" and ch == '"':
                    j += 2
                    continue
                if self.s[j] == ch:
                    if ch == "'" and self.s[j + 1:j + 2] == "'":
                        j += 2
                        continue
                    break
                j += 1
            token, self.i = self.s[self.i:j + 1], j + 1
            return _scalar(token)
        j = self.i
        while j < len(self.s) and self.s[j] not in ",]}":
            j += 1
        token, self.i = self.s[self.i:j], j
        return _scalar(token)

    def collection(self, close, mapping):
        self.i += 1
        result = {} if mapping else []
        while True:
            self.ws()
            if self.s[self.i:self.i + 1] == close:
                self.i += 1
                return result
            if mapping:
                j = self.s.index(":", self.i)
                key = _scalar(self.s[self.i:j])
                self.i = j + 1
                result[key] = self.value()
            else:
                result.append(self.value())
            self.ws()
            if self.s[self.i:self.i + 1] == ",":
                self.i += 1
            elif self.s[self.i:self.i + 1] != close:
                raise YamlError(f"bad flow collection: {self.s}")


def _inline(text):
    text = text.strip()
    if text[:1] in ("[", "{"):
        flow = _Flow(text)
        value = flow.value()
        if flow.s[flow.i:].strip():
            raise YamlError(f"trailing text after {text}")
        return value
    return _scalar(text)


class _Block:
    KEY = re.compile(r"""^("[^"]*"|'[^']*'|[^\s"'\[{#-][^:]*?|-[^\s:][^:]*?)\s*:(?:\s+(.*))?$""")

    def __init__(self, lines):
        self.lines, self.i = lines, 0

    def peek(self):
        while self.i < len(self.lines):
            content = _strip_comment(self.lines[self.i])
            if content.strip():
                return len(content) - len(content.lstrip(" ")), content.strip()
            self.i += 1
        return None

    def block(self, indent_min):
        line = self.peek()
        if line is None or line[0] < indent_min:
            return None
        if line[1] == "-" or line[1].startswith("- "):
            return self.seq(line[0])
        return self.map(line[0])

    def value_after(self, rest, indent):
        if rest is None or rest == "":
            line = self.peek()
            if line and line[0] > indent:
                return self.block(line[0])
            if line and line[0] == indent and (line[1] == "-" or line[1].startswith("- ")):
                return self.seq(indent)
            return None
        if re.fullmatch(r"[|>][+-]?", rest):
            return self.block_scalar(indent, rest)
        value = _inline(rest)
        line = self.peek()
        if line and line[0] > indent:
            raise YamlError(f"unsupported multi-line value after: {rest}")
        return value

    def map(self, indent):
        result = {}
        while True:
            line = self.peek()
            if line is None or line[0] < indent:
                return result
            if line[0] > indent:
                raise YamlError(f"bad indentation: {line[1]}")
            if line[1].startswith("- ") or line[1] == "-":
                return result
            m = self.KEY.match(line[1])
            if not m:
                raise YamlError(f"expected key: value, got: {line[1]}")
            self.i += 1
            key = _scalar(m.group(1))
            if key in result:
                raise YamlError(f"duplicate key {key}")
            result[key] = self.value_after(m.group(2), indent)

    def seq(self, indent):
        result = []
        while True:
            line = self.peek()
            if line is None or line[0] < indent or not (line[1] == "-" or line[1].startswith("- ")):
                return result
            if line[0] > indent:
                raise YamlError(f"bad indentation: {line[1]}")
            rest = line[1][1:].lstrip()
            column = indent + len(line[1]) - len(rest)
            if rest and self.KEY.match(rest) and rest[:1] not in ("[", "{", '"', "'"):
                self.lines[self.i] = " " * column + rest  # `- key: v` starts a mapping
                result.append(self.map(column))
            else:
                self.i += 1
                result.append(self.value_after(rest, indent))

    def block_scalar(self, indent, style):
        body = []
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            if raw.strip() and len(raw) - len(raw.lstrip(" ")) <= indent:
                break
            body.append(raw)
            self.i += 1
        while body and not body[-1].strip():
            body.pop()
        if not body:
            return ""
        cut = min(len(b) - len(b.lstrip(" ")) for b in body if b.strip())
        body = [b[cut:] for b in body]
        text = "\n".join(body) if style[0] == "|" else " ".join(b.strip() for b in body)
        return text if style.endswith("-") else text + "\n"


def parse_yaml(text):
    """The documents of a YAML stream, in the block/flow subset used here."""
    docs = []
    for chunk in re.split(r"(?m)^---[ \t]*$", text):
        parser = _Block(chunk.split("\n"))
        value = parser.block(0)
        if parser.peek() is not None:
            raise YamlError(f"cannot parse from: {parser.peek()[1]}")
        if value is not None:
            docs.append(value)
    return docs


# --- Dockerfile -----------------------------------------------------------------------------


class Instruction:
    def __init__(self, line, keyword, args):
        self.line, self.keyword, self.args = line, keyword, args

    def exec_form(self, text=None):
        """The JSON array of an exec-form instruction, or None for shell form."""
        text = self.args if text is None else text
        text = text.strip()
        if text.startswith("["):
            value = json.loads(text)
            if not all(isinstance(v, str) for v in value):
                raise ValueError("exec form must be strings")
            return value
        return None


class Stage:
    def __init__(self, image, name):
        self.image, self.name = image, name
        self.instructions = []
        self.env = {}
        self.workdir = "/"

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text):
    stages = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.rstrip().endswith("\\") and i < len(lines):
            nxt = lines[i]
            i += 1
            if nxt.lstrip().startswith("#"):
                continue
            line = line.rstrip()[:-1] + " " + nxt.strip()
        keyword, _, args = line.strip().partition(" ")
        ins = Instruction(start, keyword.upper(), args.strip())
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            raise ValueError(f"line {start}: {keyword} before FROM")
        stage = stages[-1]
        stage.instructions.append(ins)
        if ins.keyword == "ENV":
            for k, v in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", ins.args):
                stage.env[k] = v.strip("\"'")
        elif ins.keyword == "WORKDIR":
            stage.workdir = ins.args
    return stages


def copy_parts(ins):
    """(flags, sources, destination) of a COPY/ADD."""
    words = ins.exec_form() or shlex.split(ins.args)
    flags = [w for w in words if w.startswith("--")]
    rest = [w for w in words if not w.startswith("--")]
    options = dict(f[2:].split("=", 1) if "=" in f else (f[2:], "") for f in flags)
    return options, rest[:-1], rest[-1]


def simple_commands(script):
    """Simple commands of a shell line, split at && || ; |, each as a list of words."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def strip_assignments(words):
    env, i = {}, 0
    while i < len(words) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[i]):
        key, _, value = words[i].partition("=")
        env[key] = value
        i += 1
    return env, words[i:]


def dockerignore_patterns(path):
    patterns = []
    if path.exists():
        for raw in path.read_text().split("\n"):
            raw = raw.strip()
            if raw and not raw.startswith("#"):
                patterns.append(raw)
    return patterns


@functools.lru_cache(maxsize=None)
def _glob_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "(?:/.*)?$")  # a matching directory excludes what it holds


def dockerignored(relpath, patterns):
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if _glob_regex(body.strip("/").lstrip("./")).match(relpath):
            ignored = not negate
    return ignored


@functools.lru_cache(maxsize=None)
def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files"], capture_output=True,
                             text=True, check=True, timeout=60).stdout
        return [f for f in out.split("\n") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            dirnames[:] = [d for d in dirnames if d != ".git" and not d.startswith("build")]
            files += [os.path.normpath(os.path.join(rel, f)) for f in filenames]
        return files


_APT_KNOWN = {}


def apt_packages_exist(packages):
    """{package: True/False} from one `apt-cache show`, or None when apt-cache is missing."""
    if not shutil.which("apt-cache"):
        return None
    unknown = [p for p in packages if p not in _APT_KNOWN]
    if unknown:
        out = subprocess.run(["apt-cache", "show", "--no-all-versions"] + unknown,
                             capture_output=True, text=True, timeout=120).stdout
        found = set(re.findall(r"^Package: (\S+)$", out, re.M))
        _APT_KNOWN.update({p: p in found for p in unknown})
    return {p: _APT_KNOWN[p] for p in packages}


def check_packages(report, where, packages):
    known = apt_packages_exist(packages)
    if known is None:
        report.note(f"apt-cache not found: not checking that {' '.join(packages)} are Debian "
                    "packages")
        return
    for package in packages:
        if not known[package]:
            report.fail(where, f"package {package!r} is not known to apt-cache "
                               "(not a Debian 12 package name?)")


@functools.lru_cache(maxsize=None)
def owning_package(path):
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        candidates.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0].strip()
    return None


@functools.lru_cache(maxsize=None)
def ldd(binary):
    return subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=60).stdout


def check_runtime_libraries(report, where, binary, runtime_packages):
    """Every shared library of the binary comes from the base image or a listed package."""
    if not shutil.which("ldd") or not shutil.which("dpkg"):
        report.note("ldd or dpkg not found: not checking the runtime packages against the binary")
        return
    out = ldd(binary)
    needed = set()
    for name, path in re.findall(r"^\s*(\S+) => (/\S+)", out, re.M):
        if SANITIZER_LIB.search(name):
            report.note(f"{binary} is a sanitizer build; ignoring {name}")
            continue
        package = owning_package(path)
        if package is None:
            report.fail(where, f"{name} ({path}), needed by {binary}, belongs to no Debian "
                               "package; the runtime image cannot install it")
            continue
        needed.add(package)
        if package not in BASE_PACKAGES and package not in runtime_packages:
            report.fail(where, f"the binary needs {name} from package {package}, which the "
                               f"runtime stage does not install (it installs: "
                               f"{' '.join(sorted(runtime_packages)) or 'nothing'})")
    for package in sorted(set(runtime_packages) - needed):
        report.note(f"runtime package {package} provides no library of {binary} (unneeded?)")


def check_options(report, where, words, proxy_help, allowed=None):
    allowed = proxy_help.options if allowed is None else allowed
    for word in words:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            if flag not in allowed:
                report.fail(where, f"{flag} is not an option of puppy-proxy (see --help)")


def check_env_names(report, where, text, proxy_help):
    for name in sorted(set(re.findall(r"\b(PUPPY_[A-Z0-9_]+)\b", text))):
        if name not in proxy_help.env:
            report.fail(where, f"${name} is not read by puppy-proxy (--help names: "
                               f"{' '.join(sorted(proxy_help.env))})")


def toml_keys(text):
    keys = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^("?)([A-Za-z0-9_.-]+)\1\s*=', line)
        if not m:
            raise ValueError(f"line {number}: not key = value: {raw}")
        keys.append((number, m.group(2), line.split("=", 1)[1].split("#", 1)[0].strip()))
    return keys


class Checked:
    """What the checks learn about the image, for the later checks."""

    def __init__(self):
        self.image_files = {}  # path in the image -> file in the repository
        self.cmd = []
        self.entrypoint = []
        self.listen_port = None
        self.drain_ms = None
        self.user = None
        self.healthcheck_script = None
        self.healthcheck_argv = []
        self.config_listen = None
        self.exposed = []


def load(report, path, parse):
    """(name for messages, parse(text)) of a docker/ file, or None after a failure."""
    where = str(path.relative_to(path.parent.parent))
    if not path.exists():
        report.fail(where, "missing")
        return None
    try:
        return where, parse(path.read_text())
    except (ValueError, YamlError) as e:  # json.JSONDecodeError is a ValueError
        report.fail(where, f"cannot parse (this test reads the subset these files use): {e}")
        return None


def check_dockerfile(report, root, docker_dir, proxy_help, binary, state):
    loaded = load(report, docker_dir / "Dockerfile", parse_dockerfile)
    if loaded is None:
        return
    where, stages = loaded
    if len(stages) < 2:
        report.fail(where, "expected a build stage and a runtime stage")
        return
    for stage in stages:
        if not re.fullmatch(r"debian:(12|bookworm)(-slim)?", stage.image):
            report.fail(where, f"FROM {stage.image}: expected debian:12 / debian:12-slim")
    runtime = stages[-1]
    if not runtime.image.endswith("-slim"):
        report.fail(where, f"runtime stage FROM {runtime.image}: expected debian:12-slim")
    names = {s.name: s for s in stages if s.name}
    patterns = dockerignore_patterns(docker_dir / "Dockerfile.dockerignore")

    # Files the repository must provide, and that the context must not leave out.
    needed_in_context = []
    for stage in stages:
        for ins in stage.all("COPY") + stage.all("ADD"):
            at = f"{where}:{ins.line}"
            flags, sources, dest = copy_parts(ins)
            if "from" in flags:
                source_stage = names.get(flags["from"])
                if source_stage is None:
                    report.fail(at, f"COPY --from={flags['from']}: no such stage")
                    continue
                build_dir = source_stage.env.get("PUPPY_BUILD_DIR")
                for source in sources:
                    target = os.path.basename(source)
                    if build_dir is None or os.path.dirname(source) != build_dir.rstrip("/"):
                        report.fail(at, f"{source}: not in the build stage's $PUPPY_BUILD_DIR "
                                        f"({build_dir}), where scripts/build.sh builds")
                    elif not re.search(rf"add_executable\(\s*{re.escape(target)}\s",
                                       (root / "CMakeLists.txt").read_text()):
                        report.fail(at, f"{source}: {target} is not an executable of "
                                        "CMakeLists.txt")
                    if stage is runtime:
                        state.image_files[dest] = binary
                continue
            for source in sources:
                matches = list(root.glob(source)) if source not in (".", "./") else [root]
                if not matches:
                    report.fail(at, f"COPY source {source} does not exist in the repository")
                    continue
                if source in (".", "./"):
                    continue
                needed_in_context.append(source)
                if stage is runtime:
                    image_path = dest if not dest.endswith("/") else dest + os.path.basename(source)
                    state.image_files[image_path] = str(matches[0])
    for rel in tracked_files(root):
        if dockerignored(rel, patterns):
            report.fail(f"{where}.dockerignore", f"excludes {rel}, which git tracks; the build "
                                                 "context must hold every source file")
    for source in needed_in_context:
        if dockerignored(source.strip("/"), patterns):
            report.fail(f"{where}.dockerignore", f"excludes {source}, which the Dockerfile COPYs")

    # The build stage runs only the repository's scripts, the ones CI runs.
    ci_text = "\n".join(p.read_text() for p in [root / "scripts/test", root / ".ci/run"]
                        if p.exists())
    build_stages = [s for s in stages if s is not runtime]
    for stage in build_stages:
        for ins in stage.all("RUN"):
            at = f"{where}:{ins.line}"
            words_list = simple_commands(" ".join(ins.exec_form() or [ins.args]))
            for words in words_list:
                _, words = strip_assignments(words)
                if not words:
                    continue
                command = words[0]
                script = (root / command).resolve() if "/" in command else None
                if script is None or not str(script).startswith(str(root.resolve())):
                    report.fail(at, f"RUN {command}: the build stage must only run the "
                                    "repository's scripts (which CI runs), so that the image is "
                                    "built the way CI builds")
                    continue
                if not script.is_file() or not os.access(script, os.X_OK):
                    report.fail(at, f"RUN {command}: no such executable script in the repository")
                    continue
                rel = script.relative_to(root.resolve()).as_posix()
                if os.path.basename(rel) not in ci_text:
                    report.fail(at, f"RUN {command}: CI (scripts/test) does not run {rel}")
                check_script_arguments(report, at, root, rel, words[1:])

    # The runtime stage: packages, user, port, signal, health check, command line.
    runtime_packages = []
    for ins in runtime.all("RUN"):
        for words in simple_commands(ins.args):
            _, words = strip_assignments(words)
            if words[:1] == ["apt-get"] and "install" in words:
                after = words[words.index("install") + 1:]
                runtime_packages += [w for w in after if not w.startswith("-")]
    check_packages(report, f"{where} (runtime stage)", runtime_packages)
    check_runtime_libraries(report, f"{where} (runtime stage)", binary, set(runtime_packages))
    check_env_names(report, where, "\n".join(f"{k}={v}" for k, v in runtime.env.items()),
                    proxy_help)

    users = runtime.all("USER")
    if not users:
        report.fail(where, "runtime stage has no USER: the proxy would run as root")
    else:
        state.user = users[-1].args.split(":")[0]
        if not state.user.isdigit() or state.user == "0":
            report.fail(f"{where}:{users[-1].line}", "USER should be a numeric non-root uid "
                                                     "(Kubernetes' runAsNonRoot checks it)")
    signals = runtime.all("STOPSIGNAL")
    if not signals or signals[-1].args != "SIGTERM":
        report.fail(where, "runtime stage needs STOPSIGNAL SIGTERM (the proxy drains on it)")

    entry = runtime.all("ENTRYPOINT")
    cmd = runtime.all("CMD")
    if not entry or not cmd:
        report.fail(where, "runtime stage needs ENTRYPOINT and CMD")
        return
    state.entrypoint = entry[-1].exec_form() or []
    state.cmd = cmd[-1].exec_form() or []
    if not state.entrypoint or not state.cmd:
        report.fail(where, "ENTRYPOINT and CMD must be exec form (JSON arrays), so that signals "
                           "reach the proxy and not a shell")
        return
    program = state.entrypoint[0]
    if image_path_of(program, state) is None:
        report.fail(f"{where}:{entry[-1].line}", f"ENTRYPOINT {program}: not a file the image gets")
    check_options(report, f"{where}:{entry[-1].line}", state.entrypoint[1:], proxy_help)
    check_options(report, f"{where}:{cmd[-1].line}", state.cmd, proxy_help)
    config = option_value(state.cmd, "--config")
    if config and config not in state.image_files:
        report.fail(f"{where}:{cmd[-1].line}", f"--config {config}: the image has no such file")

    exposes = runtime.all("EXPOSE")
    state.exposed = [p.split("/")[0] for e in exposes for p in e.args.split()]

    health = runtime.all("HEALTHCHECK")
    if not health:
        report.fail(where, "runtime stage has no HEALTHCHECK")
        return
    check_healthcheck(report, f"{where}:{health[-1].line}", health[-1], state)


def check_script_arguments(report, at, root, rel, args):
    if rel == "scripts/install-deps.sh":
        result = subprocess.run([str(root / rel)] + args + ["--print"], capture_output=True,
                                text=True, timeout=60)
        if result.returncode != 0:
            report.fail(at, f"{rel} {' '.join(args)} --print failed ({result.returncode}): "
                            f"{result.stderr.strip()}")
            return
        packages = result.stdout.split()
        if not packages:
            report.fail(at, f"{rel} {' '.join(args)} --print lists no packages")
        check_packages(report, f"{at} ({rel} {' '.join(args)})", packages)
    elif rel == "scripts/build.sh":
        cmake_text = "\n".join((root / f).read_text() for f in tracked_files(root)
                               if os.path.basename(f) == "CMakeLists.txt" and (root / f).exists())
        for arg in args:
            m = re.fullmatch(r"-D([A-Za-z0-9_]+)(?::\w+)?=(.*)", arg)
            if not m:
                report.fail(at, f"{rel} {arg}: expected only -DNAME=VALUE arguments (passed to "
                                "cmake's configure step)")
                continue
            name = m.group(1)
            if name.startswith("CMAKE_") or name == "BUILD_TESTING":
                continue
            if not re.search(rf"(option|set)\(\s*{name}\b", cmake_text):
                report.fail(at, f"{rel} -D{name}: no such option in the CMakeLists.txt files")
    else:
        report.note(f"{at}: not checking the arguments of {rel}")


def option_value(words, option):
    for i, word in enumerate(words):
        if word == option and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None


def image_path_of(program, state):
    """The repository file behind a program name or path in the image."""
    if program.startswith("/"):
        return state.image_files.get(program)
    for image_path, source in state.image_files.items():
        if image_path == f"/usr/local/bin/{program}":
            return source
    return None


def check_healthcheck(report, at, ins, state):
    words = shlex.split(ins.args.split("CMD", 1)[0]) if "CMD" in ins.args else []
    for word in words:
        if word.split("=", 1)[0] not in HEALTHCHECK_OPTIONS:
            report.fail(at, f"HEALTHCHECK {word}: not an option of Docker's HEALTHCHECK")
    if "CMD" not in ins.args:
        report.fail(at, "HEALTHCHECK needs CMD")
        return
    command = ins.args.split("CMD", 1)[1].strip()
    argv = ins.exec_form(command) or shlex.split(command)
    script = image_path_of(argv[0], state)
    if script is None:
        report.fail(at, f"HEALTHCHECK runs {argv[0]}, which the image does not get from a COPY "
                        "(redis-cli is not in debian:12-slim)")
        return
    shebang = Path(script).read_text().split("\n", 1)[0]
    interpreter = shebang[2:].split()[0] if shebang.startswith("#!") else None
    if interpreter not in BASE_INTERPRETERS:
        report.fail(at, f"{script}: interpreter {interpreter} is not in debian:12-slim")
    usage = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    options = set(re.findall(r"--[a-z][a-z-]*", usage.stdout))
    for word in argv[1:]:
        if word.startswith("-") and word.split("=", 1)[0] not in options:
            report.fail(at, f"HEALTHCHECK {word}: not an option of {argv[0]} ({script} --help)")
    state.healthcheck_script = script
    state.healthcheck_argv = argv


def check_container_config(report, docker_dir, proxy_help, state):
    loaded = load(report, docker_dir / "puppy-proxy.toml", toml_keys)
    if loaded is None:
        return
    where, keys = loaded
    values = {}
    for number, key, value in keys:
        values[key] = value.strip('"')
        if f"--{key}" not in proxy_help.options or key in ("config", "help", "version"):
            report.fail(f"{where}:{number}", f"{key} is not an option of puppy-proxy "
                                             "(the proxy would ignore it silently)")
    for secret in ("requirepass", "upstream-password"):
        if secret in values:
            report.fail(where, f"{secret} belongs in the environment (a secret), not in the image")
    listen = values.get("listen", proxy_help.default("--listen") or "")
    host, _, port = listen.rpartition(":")
    if host not in ("0.0.0.0", "[::]", "::"):
        report.fail(where, f"listen = {listen}: a sidecar must listen on the pod network "
                           "(0.0.0.0), not only on loopback")
    state.listen_port = port
    state.config_listen = listen
    if values.get("embedded-upstream") != "never":
        report.fail(where, "embedded-upstream should be \"never\": the image has no redis-server")
    state.drain_ms = int(values.get("drain-timeout-ms", proxy_help.default("--drain-timeout-ms")))
    if state.exposed and port not in state.exposed:
        report.fail(where, f"listens on port {port}, the Dockerfile EXPOSEs {state.exposed}")
    config_dir = docker_dir.parent / "config" / "puppy-proxy.toml"
    if config_dir.exists():
        main_keys = {k for _, k, _ in toml_keys(config_dir.read_text())}
        for key in sorted(main_keys - set(values) - {"redis-server", "ready-file"}):
            report.note(f"config/puppy-proxy.toml sets {key}, docker/puppy-proxy.toml does not "
                        "(the binary's default applies)")


def check_listen(report, at, args, state, proxy_help):
    """A container's arguments replace the image's CMD: it must still listen off loopback."""
    listen = option_value(args, "--listen")
    if listen is None and "--config" in args:
        listen = state.config_listen
    listen = listen or proxy_help.default("--listen") or ""
    if listen.rpartition(":")[0] not in ("0.0.0.0", "[::]", "::"):
        report.fail(at, f"would listen on {listen}, unreachable from other containers; keep "
                        "--config /etc/puppy-proxy/puppy-proxy.toml or give --listen 0.0.0.0:PORT")
    return listen.rpartition(":")[2]


def drain_seconds(args, state):
    value = option_value(args, "--drain-timeout-ms")
    return (int(value) if value else state.drain_ms or 5000) / 1000.0


def duration_seconds(text):
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", str(text)):
        total += float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def upstream_hosts(args):
    url = option_value(args, "--upstream")
    if not url:
        return None, []
    scheme, _, rest = url.partition("://")
    rest = rest.rsplit("@", 1)[-1]
    return scheme, [hp.rsplit(":", 1)[0] for hp in rest.split(",") if hp]


def is_proxy_service(service):
    build = service.get("build")
    dockerfile = build.get("dockerfile") if isinstance(build, dict) else None
    return (dockerfile is not None and dockerfile.endswith("docker/Dockerfile")) or \
        str(service.get("image", "")).startswith("puppy-proxy")


def load_yaml(report, path, proxy_help):
    """(name for messages, documents) of a YAML file, its PUPPY_* names checked; None if bad."""
    loaded = load(report, path, parse_yaml)
    if loaded is not None:
        check_env_names(report, loaded[0], path.read_text(), proxy_help)
    return loaded


def check_container_args(report, at, args, proxy_help, state):
    """Flags, config file and listening port of a container's puppy-proxy arguments."""
    check_options(report, at, args, proxy_help)
    if "--config" in args and option_value(args, "--config") not in state.image_files:
        report.fail(at, f"--config {option_value(args, '--config')}: not a file of the image")
    return check_listen(report, at, args, state, proxy_help)


def check_compose(report, docker_dir, proxy_help, state, runs):
    path = docker_dir / "compose.yml"
    loaded = load_yaml(report, path, proxy_help)
    if loaded is None:
        return
    where, docs = loaded
    services = docs[0].get("services") if docs and isinstance(docs[0], dict) else None
    if not isinstance(services, dict) or not services:
        report.fail(where, "no services")
        return
    schemes = set()
    for name, service in services.items():
        at = f"{where} service {name}"
        for dep, spec in (service.get("depends_on") or {}).items():
            if dep not in services:
                report.fail(at, f"depends_on {dep}: no such service")
            elif isinstance(spec, dict) and spec.get("condition") == "service_healthy" and \
                    "healthcheck" not in services[dep] and not is_proxy_service(services[dep]):
                report.fail(at, f"depends_on {dep} being healthy, but {dep} has no healthcheck")
        if not is_proxy_service(service):
            continue
        build = service.get("build")
        if isinstance(build, dict):
            context = (path.parent / str(build.get("context", "."))).resolve()
            if context != docker_dir.parent.resolve():
                report.fail(at, f"build context {build.get('context')} is not the repository root")
            elif not (context / build.get("dockerfile", "Dockerfile")).exists():
                report.fail(at, f"build dockerfile {build.get('dockerfile')} does not exist")
        command = service.get("command", state.cmd)
        args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        check_container_args(report, at, args, proxy_help, state)
        scheme, hosts = upstream_hosts(args)
        schemes.add(scheme)
        for host in hosts:
            if host not in services:
                report.fail(at, f"--upstream host {host} is not a service of {where}")
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        grace = duration_seconds(service.get("stop_grace_period", "10s"))
        if grace <= drain_seconds(args, state):
            report.fail(at, f"stop_grace_period {grace:g}s is not longer than the drain timeout "
                            f"({drain_seconds(args, state):g}s)")
        runs.append((at, args, sorted(env)))
    if "redis" not in schemes:
        report.fail(where, "no puppy-proxy service in front of Redis (--upstream redis://...)")
    if "memcached" not in schemes:
        report.fail(where, "no memcached variant (--upstream memcached://...)")


def check_k8s(report, docker_dir, proxy_help, state, runs):
    loaded = load_yaml(report, docker_dir / "k8s-sidecar.yaml", proxy_help)
    if loaded is None:
        return
    where, docs = loaded
    secrets = {d["metadata"]["name"]: set((d.get("stringData") or {}) | (d.get("data") or {}))
               for d in docs if d.get("kind") == "Secret"}
    service_names = {d["metadata"]["name"] for d in docs if d.get("kind") == "Service"}
    sidecars = 0
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Pod"):
            continue
        pod = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
        containers = (pod.get("containers") or []) + (pod.get("initContainers") or [])
        for container in containers:
            at = f"{where} {doc['kind']} {doc['metadata']['name']} container {container['name']}"
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("key") not in secrets.get(ref.get("name"), set()):
                    report.fail(at, f"env {env['name']}: secret {ref.get('name')} has no key "
                                    f"{ref.get('key')} in this file")
            if "puppy-proxy" not in str(container.get("image", "")):
                continue
            sidecars += 1
            if len(pod.get("containers") or []) < 2:
                report.fail(at, "a sidecar needs the app container in the same pod")
            if container.get("command") not in (None, state.entrypoint):
                report.fail(at, "command overrides the image's ENTRYPOINT; use args")
            args = [str(a) for a in container.get("args", state.cmd)]
            _, hosts = upstream_hosts(args)
            for host in hosts:
                if host.split(".")[0] not in service_names:
                    report.note(f"{at}: --upstream host {host} is not a Service of this file")
            port = check_container_args(report, at, args, proxy_help, state)
            apps = [c for c in pod.get("containers") or [] if c is not container]
            if not any(re.search(rf"(localhost|127\.0\.0\.1)\D{{1,6}}{port}\b",
                                 json.dumps(c)) for c in apps):
                report.fail(at, f"no other container of the pod uses localhost:{port}")
            ports = {str(p.get("containerPort")) for p in container.get("ports") or []}
            named = {p.get("name"): str(p.get("containerPort"))
                     for p in container.get("ports") or []}
            if port not in ports:
                report.fail(at, f"containerPort {sorted(ports)} is not the listening port {port}")
            metrics = option_value(args, "--metrics-listen")
            metrics_port = metrics.rpartition(":")[2] if metrics else None
            if metrics_port and metrics_port not in ports:
                report.fail(at, f"--metrics-listen port {metrics_port} is not a containerPort")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                spec = container.get(probe)
                if not spec:
                    report.fail(at, f"no {probe}")
                    continue
                target = str(named.get((spec.get("tcpSocket") or spec.get("httpGet") or {})
                                       .get("port"), (spec.get("tcpSocket") or
                                                      spec.get("httpGet") or {}).get("port")))
                if "httpGet" in spec:
                    # HTTP probes go to the admin listener, on the path for their purpose.
                    if target != metrics_port:
                        report.fail(at, f"{probe} httpGet port {target} is not --metrics-listen's "
                                        f"({metrics_port})")
                    if spec["httpGet"].get("path") != path:
                        report.fail(at, f"{probe} httpGet path {spec['httpGet'].get('path')}, "
                                        f"expected {path}")
                elif target != port and "exec" not in spec:
                    report.fail(at, f"{probe} checks port {target}, the proxy listens on {port}")
            pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec", {})
            pause = pre_stop.get("command", [])
            pause_s = float(pause[1]) if pause[:1] == ["sleep"] and len(pause) == 2 else 0.0
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if grace <= drain_seconds(args, state) + pause_s:
                report.fail(at, f"terminationGracePeriodSeconds {grace} is not longer than the "
                                f"preStop pause ({pause_s:g}s) plus the drain timeout "
                                f"({drain_seconds(args, state):g}s)")
            security = dict(pod.get("securityContext") or {})
            security.update(container.get("securityContext") or {})
            if security.get("runAsNonRoot") is not True:
                report.fail(at, "securityContext.runAsNonRoot must be true")
            if security.get("readOnlyRootFilesystem") is not True:
                report.fail(at, "securityContext.readOnlyRootFilesystem must be true")
            uid = security.get("runAsUser")
            if uid is not None and str(uid) != state.user:
                report.fail(at, f"runAsUser {uid} is not the image's USER {state.user}")
            if not container.get("resources"):
                report.fail(at, "no resources")
            env_names = [e["name"] for e in container.get("env") or []]
            runs.append((at, args, env_names))
    if sidecars == 0:
        report.fail(where, "no puppy-proxy container (image ...puppy-proxy...)")


# --- running the binary ---------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """puppy-proxy started with the given arguments plus a loopback listen address."""

    def __init__(self, binary, args, env=None):
        self.tmp = tempfile.mkdtemp(prefix="docker-files-")
        ready = os.path.join(self.tmp, "ready")
        self.log = open(os.path.join(self.tmp, "log"), "w+")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PUPPY_")}
        full_env.update(env or {})
        self.proc = subprocess.Popen([binary] + args + ["--listen", "127.0.0.1:0",
                                                        "--ready-file", ready],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self.address = None
        deadline = time.time() + 20
        while time.time() < deadline and self.proc.poll() is None:
            if os.path.exists(ready) and open(ready).read().strip():
                self.address = open(ready).read().splitlines()[0].strip()
                break
            time.sleep(0.05)

    def output(self):
        self.log.seek(0)
        return self.log.read().strip()

    def stop(self):
        """SIGTERM, as docker stop and Kubernetes send; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed after 30 s"
        shutil.rmtree(self.tmp, ignore_errors=True)
        return self.proc.returncode


def to_repo_args(args, state, upstream):
    """The container's arguments with image paths mapped to repository files, hosts to loopback."""
    out = []
    for i, word in enumerate(args):
        if i > 0 and args[i - 1] == "--config":
            word = state.image_files.get(word, word)
        if i > 0 and args[i - 1] == "--upstream":
            scheme, hosts = upstream_hosts(args)
            word = f"{scheme}://" + ",".join(f"127.0.0.1:{upstream}" for _ in hosts)
        out.append(word)
    return out


def check_runs(report, binary, runs, state):
    """Each container's argument list starts the real binary, which exits 0 on SIGTERM."""
    dead_port = free_port()
    for at, args, env_names in runs:
        env = {name: "test-secret" for name in env_names if name.startswith("PUPPY_")}
        proxy = Proxy(binary, to_repo_args(args, state, dead_port), env)
        if proxy.address is None:
            code = proxy.stop()
            report.fail(at, f"puppy-proxy {' '.join(args)} did not start (exit {code}):\n"
                            f"{proxy.output()}")
            continue
        code = proxy.stop()
        if code != 0:
            report.fail(at, f"puppy-proxy {' '.join(args)}: exit code {code} after SIGTERM "
                            f"(expected 0):\n{proxy.output()}")


def run_healthcheck(state, address, env, extra=()):
    host, _, port = address.rpartition(":")
    argv = [state.healthcheck_script, *state.healthcheck_argv[1:], *extra, host, port]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PUPPY_")}
    full_env.update(env)
    result = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=30)
    return result.returncode, result.stderr.strip()


def check_healthcheck_runs(report, binary, state):
    """The HEALTHCHECK command against the proxy started as the image starts it."""
    if state.healthcheck_script is None or not state.cmd:
        return
    where = "docker/Dockerfile HEALTHCHECK"
    cmd = [state.image_files.get(w, w) for w in state.cmd]
    redis = None
    if shutil.which("redis-server"):
        port = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
    else:
        report.note("redis-server not found: not checking that the health check passes")
    try:
        cases = []
        if redis is not None:
            cases += [
                ({}, {}, (), 0, "PING through a healthy proxy"),
                ({"PUPPY_REQUIREPASS": "pw 1"}, {"PUPPY_REQUIREPASS": "pw 1"}, (), 0,
                 "AUTH with $PUPPY_REQUIREPASS, then PING"),
                ({"PUPPY_REQUIREPASS": "pw 1"}, {"PUPPY_REQUIREPASS": "wrong"}, (), 1,
                 "a wrong password"),
                ({"PUPPY_REQUIREPASS": "pw 1"}, {}, ("--any-reply",), 0,
                 "--any-reply, NOAUTH being a reply"),
            ]
        cases += [
            ({}, {}, (), 1, "an unreachable upstream"),
            ({}, {}, ("--any-reply",), 0, "--any-reply with an unreachable upstream"),
        ]
        dead = free_port()
        for proxy_env, check_env, extra, expected, what in cases:
            upstream = redis.args[2] if redis is not None and "unreachable" not in what else dead
            proxy = Proxy(binary, cmd + ["--upstream", f"redis://127.0.0.1:{upstream}"], proxy_env)
            if proxy.address is None:
                proxy.stop()
                report.fail(where, f"the image's CMD did not start: {proxy.output()}")
                return
            code, err = run_healthcheck(state, proxy.address, check_env, extra)
            started = time.time()
            exit_code = proxy.stop()
            took, drain = time.time() - started, drain_seconds(cmd, state)
            if exit_code != 0 or took > drain + 2:
                report.fail(where, f"after {what}, SIGTERM: exit code {exit_code} after "
                                   f"{took:.1f} s; the grace periods of compose.yml and "
                                   f"k8s-sidecar.yaml assume exit 0 within the drain timeout "
                                   f"({drain:g} s)")
            if code != expected:
                report.fail(where, f"{what}: health check exit code {code}, expected {expected} "
                                   f"({err})")
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait()


# --- the whole check ------------------------------------------------------------------------


def check_all(root, docker_dir, proxy_help, binary, run_binary=True, quiet=False):
    report = Report(quiet)
    state = Checked()
    runs = []
    check_dockerfile(report, root, docker_dir, proxy_help, binary, state)
    check_container_config(report, docker_dir, proxy_help, state)
    check_compose(report, docker_dir, proxy_help, state, runs)
    check_k8s(report, docker_dir, proxy_help, state, runs)
    if run_binary:
        check_runs(report, binary, runs, state)
        check_healthcheck_runs(report, binary, state)
    return report


# Deliberate mistakes the static checks must catch: (file, old, new, expected message part).
MUTATIONS = [
    ("compose.yml", "- --drain-timeout-ms", "- --drain-timeout-msec", "--drain-timeout-msec"),
    ("k8s-sidecar.yaml", "- --threads", "- --thread", "--thread is not an option"),
    ("k8s-sidecar.yaml", "-h 127.0.0.1 -p 6380", "-h 127.0.0.1 -p 6379", "uses localhost:6380"),
    ("compose.yml", "      - --config\n      - /etc/puppy-proxy/puppy-proxy.toml\n", "",
     "unreachable from other containers"),
    ("k8s-sidecar.yaml", "name: PUPPY_REQUIREPASS", "name: PUPPY_REQUIRE_PASS",
     "PUPPY_REQUIRE_PASS"),
    ("k8s-sidecar.yaml", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 6",
     "terminationGracePeriodSeconds"),
    ("puppy-proxy.toml", "threads = 1", "thread = 1", "thread is not an option"),
    ("puppy-proxy.toml", 'listen = "0.0.0.0:6380"', 'listen = "127.0.0.1:6380"', "pod network"),
    ("Dockerfile", 'CMD ["--config"', 'CMD ["--conf"', "--conf is not an option"),
    ("Dockerfile", "COPY docker/healthcheck.sh", "COPY docker/health-check.sh",
     "does not exist in the repository"),
    ("Dockerfile", "RUN ./scripts/install-deps.sh --build-only",
     "RUN ./scripts/install-deps.sh --build-onyl", "--print failed"),
    ("Dockerfile", "-DBUILD_TESTING=OFF", "-DPUPPY_NO_TESTS=ON", "PUPPY_NO_TESTS"),
    ("Dockerfile", "RUN ./scripts/build.sh", "RUN cmake --build . && ./scripts/build.sh",
     "only run the repository's scripts"),
    ("Dockerfile", " libfmt9 ", " ", "which the runtime stage does not install"),
    ("Dockerfile", " libfmt9 ", " libfmt9 libfmt99 ", "libfmt99"),
    ("Dockerfile", "--retries=3", "--retry=3", "not an option of Docker's HEALTHCHECK"),
    ("Dockerfile.dockerignore", "bench/results", "bench", "excludes bench/"),
]


def self_test(root, docker_dir, proxy_help, binary):
    """Each mutation of a copy of docker/ must make the static checks fail as expected."""
    failures = []
    has_tools = {"apt": shutil.which("apt-cache") is not None,
                 "ldd": shutil.which("ldd") is not None and shutil.which("dpkg") is not None}
    for file, old, new, expected in MUTATIONS:
        if ("libfmt99" in new and not has_tools["apt"]) or \
                ("runtime stage does not install" in expected and not has_tools["ldd"]):
            print(f"self-test: skipped {file}: {old!r} -> {new!r} (tool missing)")
            continue
        with tempfile.TemporaryDirectory(prefix="docker-selftest-") as tmp:
            copy = Path(tmp) / "docker"
            shutil.copytree(docker_dir, copy)
            text = (copy / file).read_text()
            if old not in text:
                failures.append(f"self-test: {file} no longer contains {old!r}; update MUTATIONS")
                continue
            (copy / file).write_text(text.replace(old, new, 1))
            report = check_all(root, copy, proxy_help, binary, run_binary=False, quiet=True)
            if not any(expected in e for e in report.errors):
                failures.append(f"self-test: {file}: {old!r} -> {new!r} was not caught (expected "
                                f"an error containing {expected!r}; got {report.errors})")
            else:
                print(f"self-test: caught {file}: {old!r} -> {new!r}")
    return failures


def build_for_real(root, docker_dir, build_dir):
    """Runs the Dockerfile's build-stage RUN lines here, with PUPPY_BUILD_DIR=build_dir."""
    stages = parse_dockerfile((docker_dir / "Dockerfile").read_text())
    env = dict(os.environ)
    for stage in stages[:-1]:
        env.update(stage.env)
        env["PUPPY_BUILD_DIR"] = str(build_dir)
        for ins in stage.all("RUN"):
            print(f"build: RUN {ins.args}  (PUPPY_BUILD_DIR={build_dir})", flush=True)
            started = time.time()
            subprocess.run(["bash", "-c", ins.args], cwd=root, env=env, check=True)
            print(f"build: {time.time() - started:.0f} s", flush=True)
    binary = Path(build_dir) / "puppy-proxy"
    if not binary.exists():
        raise SystemExit(f"build: {binary} was not built")
    return str(binary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", required=True, help="the puppy-proxy binary")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]))
    parser.add_argument("--self-test", action="store_true",
                        help="also check that deliberately broken copies are caught")
    parser.add_argument("--build", metavar="DIR",
                        help="first run the Dockerfile's build stage here (slow), then check "
                             "the binary it built")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    docker_dir = root / "docker"
    binary = args.binary
    if args.build:
        binary = build_for_real(root, docker_dir, Path(args.build).resolve())
    proxy_help = ProxyHelp(binary)
    report = check_all(root, docker_dir, proxy_help, binary)
    failures = list(report.errors)
    if args.self_test:
        failures += self_test(root, docker_dir, proxy_help, binary)
    if failures:
        print(f"\nFAILED: {len(failures)} problem(s) in docker/:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print("docker/ checks passed: Dockerfile, Dockerfile.dockerignore, puppy-proxy.toml, "
          "compose.yml, k8s-sidecar.yaml, healthcheck.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
