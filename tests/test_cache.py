"""The parse and compile cache (``target/cache``): a warm command parses and compiles nothing
that did not change, every input that matters invalidates exactly what depends on it, and a
cached plan is always the plan a cold compile makes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading

import pytest
import sqlglot

import runner.compile.compiler as compiler
import runner.project.model as model_module
from runner import BuildOptions, open_session
from runner.project import cache as cache_module

MACRO = "CREATE FUNCTION big(x) RETURN x > 10;\n"


@pytest.fixture
def shop(project):
    project.write("macros/big.sql", MACRO)
    project.model("stg", "SELECT order_id, user_id, amount FROM raw_orders WHERE big(amount)")
    project.model("users", "SELECT user_id, tier FROM raw_users")
    project.model("per_user", "SELECT s.user_id, u.tier, sum(s.amount) AS total, count(*) AS n "
                              "FROM stg AS s JOIN users AS u USING (user_id) GROUP BY 1, 2")
    project.model("top", "SELECT user_id, total / n AS mean FROM per_user "
                         "WHERE total > var('floor', 0)")
    return project


class Work:
    """Which model files were parsed and which models compiled, while it is installed."""

    def __init__(self, monkeypatch) -> None:
        self.parsed: list[str] = []
        self.compiled: list[str] = []
        parse, compile_model = model_module.parse_query, compiler._compile_model

        def counting_parse(sql, path, dialect):
            self.parsed.append(path)
            return parse(sql, path, dialect)

        def counting_compile(project, name, *args):
            self.compiled.append(name)
            return compile_model(project, name, *args)

        monkeypatch.setattr(model_module, "parse_query", counting_parse)
        monkeypatch.setattr(compiler, "_compile_model", counting_compile)

    def reset(self) -> None:
        self.parsed.clear()
        self.compiled.clear()


def plan_of(project, **options) -> dict[str, tuple]:
    """What a build would run: each model's physical name, statements, result types, notes
    and reads."""
    session = open_session(project.root, BuildOptions(**options))
    session.adapter.close()
    return {m.name: (m.physical, m.select_sql, tuple(m.statements),
                     {c: t.sql("spark") for c, t in m.columns.items()},
                     tuple(n.message for n in m.notes), tuple(sorted(m.reads)))
            for m in session.plan}


def cold_plan_of(project, **options) -> dict[str, tuple]:
    """The plan made with no cache at all (then the cache is rebuilt by the next command)."""
    shutil.rmtree(project.root / "target" / "cache", ignore_errors=True)
    try:
        return plan_of(project, **options)
    finally:
        shutil.rmtree(project.root / "target" / "cache", ignore_errors=True)


def test_a_warm_compile_parses_and_compiles_nothing(shop, monkeypatch) -> None:
    work = Work(monkeypatch)
    cold = plan_of(shop)
    assert sorted(work.parsed) == ["models/per_user.sql", "models/stg.sql", "models/top.sql",
                                   "models/users.sql"]
    assert sorted(work.compiled) == ["per_user", "stg", "top", "users"]
    work.reset()
    warm = plan_of(shop)
    assert (work.parsed, work.compiled) == ([], [])
    assert warm == cold
    assert warm["top"][3] == {"user_id": "STRING", "mean": "DECIMAL(34, 22)"}  # exactly


EDITS = {
    # edit: (what to do to the project, files whose text changed, models compiled again);
    # a file is parsed again when its text changed or its model is compiled again
    "a model's SQL": (lambda p: p.model("per_user", "SELECT s.user_id, u.tier, "
                      "sum(s.amount) * 2 AS total, count(*) AS n FROM stg AS s JOIN users AS u "
                      "USING (user_id) GROUP BY 1, 2"),
                      ["models/per_user.sql"], ["per_user", "top"]),
    # same tree, same physical name: the children are not compiled again
    "a model's layout and comments": (lambda p: p.model("per_user", "-- per user\nSELECT "
                                      "s.user_id,\n  u.tier, SUM(s.amount) AS total, COUNT(*) AS n"
                                      "\nFROM stg AS s JOIN users AS u USING (user_id)\n"
                                      "GROUP BY 1, 2  /* both keys */"),
                                      ["models/per_user.sql"], ["per_user"]),
    "a model's config": (lambda p: p.model("users", "/* config\nmaterialized: view\n*/\n"
                                           "SELECT user_id, tier FROM raw_users"),
                         ["models/users.sql"], ["users", "per_user", "top"]),
    "a macro": (lambda p: p.write("macros/big.sql", "CREATE FUNCTION big(x) RETURN x > 12;\n"),
                ["models/per_user.sql", "models/stg.sql", "models/top.sql", "models/users.sql"],
                ["per_user", "stg", "top", "users"]),
    # a source's new column changes no result type: only its reader compiles again
    "a source's new column": (lambda p: p.seed("ALTER TABLE raw_users ADD COLUMN since DATE"),
                              [], ["users"]),
    "a source's column type": (lambda p: p.seed("ALTER TABLE raw_orders ALTER amount TYPE "
                                                "DOUBLE"), [], ["stg", "per_user", "top"]),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_each_input_invalidates_what_depends_on_it(shop, monkeypatch, edit) -> None:
    change, parsed, compiled_again = EDITS[edit]
    plan_of(shop)
    change(shop)
    work = Work(monkeypatch)
    warm = plan_of(shop)
    assert sorted(work.compiled) == sorted(compiled_again)
    assert sorted(work.parsed) == sorted({*parsed, *(f"models/{m}.sql" for m in compiled_again)})
    assert warm == cold_plan_of(shop)


def test_vars_are_part_of_the_key(shop, monkeypatch) -> None:
    plan_of(shop)
    work = Work(monkeypatch)
    warm = plan_of(shop, vars={"floor": 15})
    assert "15" in warm["top"][1] and sorted(work.compiled) == [
        "per_user", "stg", "top", "users"]
    assert warm == cold_plan_of(shop, vars={"floor": 15})
    work.reset()
    assert plan_of(shop) == cold_plan_of(shop)  # the default vars: their entries again


@pytest.mark.parametrize("change", ["sqlglot", "runner code"])
def test_another_sqlglot_or_runner_misses_every_entry(shop, monkeypatch, change) -> None:
    before = plan_of(shop)
    if change == "sqlglot":
        monkeypatch.setattr(sqlglot, "__version__", sqlglot.__version__ + ".post1")
    else:  # an edited checkout: any module's size or time changes the code version
        real = cache_module.Path.stat
        monkeypatch.setattr(cache_module.Path, "stat", lambda self, **kw: (
            _touched(real(self, **kw)) if self.name == "compiler.py" else real(self, **kw)))
    folders = [p.name for p in (shop.root / "target" / "cache").iterdir()]
    cache_module.code_version.cache_clear()
    work = Work(monkeypatch)
    try:
        assert plan_of(shop) == before
        now = [p.name for p in (shop.root / "target" / "cache").iterdir()]
    finally:
        cache_module.code_version.cache_clear()
    assert len(work.parsed) == 4 and len(work.compiled) == 4
    # what the older code wrote is gone: the cache holds one code version
    assert len(folders) == len(now) == 1 and folders != now


def test_clean_removes_the_cache(shop, monkeypatch, capsys) -> None:
    from runner.cli.main import main

    before = plan_of(shop)
    cache = shop.root / "target" / "cache"
    assert main(["clean", "--dry-run", "--project-dir", str(shop.root)]) == 0
    assert "would remove the parse and compile cache (target/cache, 16 entries)" in \
        capsys.readouterr().out and cache.is_dir()
    assert main(["clean", "--project-dir", str(shop.root)]) == 0
    assert "removed the parse and compile cache (target/cache, 16 entries)" in \
        capsys.readouterr().out and not cache.exists()
    work = Work(monkeypatch)
    assert plan_of(shop) == before and len(work.compiled) == 4


def _touched(stat):
    class Stat:
        st_size, st_mtime_ns = stat.st_size, stat.st_mtime_ns + 1
    return Stat()


def test_a_corrupted_entry_is_a_miss_never_a_wrong_answer(shop, monkeypatch) -> None:
    before = plan_of(shop)
    entries = [p for p in (shop.root / "target" / "cache").rglob("*") if p.is_file()]
    assert len(entries) == 16  # a parse, a compile, a lineage and a statements entry per model
    for index, entry in enumerate(entries):  # truncated, garbage, empty
        data = entry.read_bytes()
        entry.write_bytes(data[:len(data) // 2] if index % 3 == 0 else
                          b"not a pickle" if index % 3 == 1 else b"")
    work = Work(monkeypatch)
    assert plan_of(shop) == before
    assert len(work.parsed) == 4 and len(work.compiled) == 4
    work.reset()
    assert plan_of(shop) == before and (work.parsed, work.compiled) == ([], [])  # rewritten


def test_an_unwritable_cache_costs_only_speed(shop, monkeypatch) -> None:
    before = cold_plan_of(shop)
    (shop.root / "target").mkdir(exist_ok=True)
    (shop.root / "target" / "cache").write_text("a file where the folder would be")
    assert plan_of(shop) == before
    assert plan_of(shop) == before


def test_concurrent_compiles_share_one_cache(shop) -> None:
    expected = cold_plan_of(shop)
    command = [sys.executable, "-m", "runner.cli.main", "compile", "--project-dir",
               str(shop.root)]
    results: list[subprocess.CompletedProcess] = []

    def run() -> None:
        results.append(subprocess.run(command, capture_output=True, text=True, timeout=300))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert not [p for p in (shop.root / "target" / "cache").rglob(".*") if p.is_file()]
    assert plan_of(shop) == expected
