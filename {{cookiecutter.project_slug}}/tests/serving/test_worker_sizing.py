"""Worker count from fake cgroup v1 and v2 trees, affinity, memory, and the environment."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.serving.settings import (
    SettingsError,
    load_settings,
)
from {{ cookiecutter.package_name }}.serving.worker_sizing import (
    MIB,
    CpuShare,
    MemoryLimit,
    cpu_share,
    memory_limit,
    worker_count,
)

# The formula tests below pass this, so the machine's own memory never counts.
NO_LIMIT = MemoryLimit(None, "no memory limit found")
{%- if cookiecutter.database == "postgresql" %}
# The arithmetic below is written for 64 MiB per worker, the default of a service
# without a database; this one's default (96, settings.py says why) is tested apart.
_load_settings = load_settings


def load_settings(environ):
    return _load_settings({"WORKER_MEMORY_MB": "64", **environ})


def test_the_database_stack_budget_holds_two_workers_in_256_mib():
    # (256 - 64 reserved for the master) / 96 = 2: the measured 57-60 MiB PSS of a
    # gevent worker under load, twice, and the master's ~30, fit with room for the app.
    count = worker_count(_load_settings({}), TWO_CPUS, V2_256M)
    assert count.workers == 2
    assert "/ 96 MiB per worker (WORKER_MEMORY_MB)" in count.source
{%- endif %}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def fake(tmp_path):
    root = tmp_path / "cgroup"
    root.mkdir()
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/\n")
    return root, proc


def test_v2_quota_is_rounded_up(fake):
    root, proc = fake
    write(root / "cpu.max", "150000 100000\n")
    assert cpu_share(root, proc, affinity=64) == CpuShare(2, "cgroup v2 cpu.max")


def test_v2_unlimited_falls_back_to_affinity(fake):
    root, proc = fake
    write(root / "cpu.max", "max 100000\n")
    assert cpu_share(root, proc, affinity=8) == CpuShare(8, "cpu affinity")


def test_v2_limit_on_an_ancestor_counts(fake):
    root, proc = fake
    proc.write_text("0::/kubepods/pod1/container1\n")
    write(root / "kubepods/pod1/container1/cpu.max", "max 100000\n")
    write(root / "kubepods/pod1/cpu.max", "50000 100000\n")
    assert cpu_share(root, proc, affinity=64) == CpuShare(1, "cgroup v2 cpu.max")


def test_v1_quota(fake):
    root, proc = fake
    proc.write_text("4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n")
    write(root / "cpu,cpuacct/cpu.cfs_quota_us", "200000\n")
    write(root / "cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert cpu_share(root, proc, affinity=64) == CpuShare(2, "cgroup v1 cfs quota")


def test_v1_unlimited_falls_back_to_affinity(fake):
    root, proc = fake
    proc.write_text("4:cpu,cpuacct:/\n")
    write(root / "cpu/cpu.cfs_quota_us", "-1\n")
    write(root / "cpu/cpu.cfs_period_us", "100000\n")
    assert cpu_share(root, proc, affinity=3) == CpuShare(3, "cpu affinity")


def test_affinity_smaller_than_quota_wins(fake):
    root, proc = fake
    write(root / "cpu.max", "400000 100000\n")
    assert cpu_share(root, proc, affinity=2) == CpuShare(2, "cpu affinity")


def test_quota_equal_to_affinity_is_named_as_the_source(fake):
    root, proc = fake
    write(root / "cpu.max", "200000 100000\n")
    assert cpu_share(root, proc, affinity=2).source == "cgroup v2 cpu.max"


def test_tiny_quota_still_gives_one_cpu(fake):
    root, proc = fake
    write(root / "cpu.max", "10000 100000\n")
    assert cpu_share(root, proc, affinity=4).cpus == 1


def test_no_cgroup_files_uses_affinity(tmp_path):
    assert cpu_share(tmp_path / "none", tmp_path / "none", affinity=5) == CpuShare(
        5, "cpu affinity"
    )


def test_formula_is_two_per_cpu_plus_one():
    count = worker_count(load_settings({}), CpuShare(1, "cgroup v2 cpu.max"), NO_LIMIT)
    assert count.workers == 3
    assert "cgroup v2 cpu.max" in count.source


def test_workers_per_core():
    settings = load_settings({"WORKERS_PER_CORE": "4"})
    assert worker_count(settings, CpuShare(2, "cpu affinity"), NO_LIMIT).workers == 9


def test_web_concurrency_fixes_the_count():
    settings = load_settings({"WEB_CONCURRENCY": "2"})
    count = worker_count(settings, CpuShare(64, "cpu affinity"), NO_LIMIT)
    assert count.workers == 2
    assert "WEB_CONCURRENCY" in count.source


def test_max_workers_caps_the_formula():
    settings = load_settings({"MAX_WORKERS": "4"})
    count = worker_count(settings, CpuShare(64, "cpu affinity"), NO_LIMIT)
    assert count.workers == 4
    assert "MAX_WORKERS" in count.source


# Memory: the limit, then the count it allows.

GIB = 1024 * MIB
# cgroup v1's "no limit" with 4 KiB pages.
V1_UNLIMITED = "9223372036854771712\n"


@pytest.fixture
def meminfo(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       {16 * GIB // 1024} kB\nMemFree:        1024 kB\n")
    return path


def test_v2_memory_max(fake, meminfo):
    root, proc = fake
    write(root / "memory.max", f"{256 * MIB}\n")
    assert memory_limit(root, proc, meminfo) == MemoryLimit(256 * MIB, "cgroup v2 memory.max")


def test_v2_memory_max_unlimited_falls_back_to_physical_memory(fake, meminfo):
    root, proc = fake
    write(root / "memory.max", "max\n")
    assert memory_limit(root, proc, meminfo) == MemoryLimit(16 * GIB, "physical memory")


def test_v2_memory_limit_on_an_ancestor_counts(fake, meminfo):
    root, proc = fake
    proc.write_text("0::/kubepods/pod1/container1\n")
    write(root / "kubepods/pod1/container1/memory.max", "max\n")
    write(root / "kubepods/pod1/memory.max", f"{512 * MIB}\n")
    assert memory_limit(root, proc, meminfo).limit == 512 * MIB


def test_v1_memory_limit(fake, meminfo):
    root, proc = fake
    # Inside a v1 container the mount is the container's own cgroup: the path named
    # in /proc/self/cgroup does not exist under it.
    proc.write_text("4:memory:/docker/abc\n1:name=systemd:/docker/abc\n")
    write(root / "memory/memory.limit_in_bytes", f"{256 * MIB}\n")
    assert memory_limit(root, proc, meminfo) == MemoryLimit(
        256 * MIB, "cgroup v1 memory.limit_in_bytes"
    )


def test_v1_unlimited_is_no_limit(fake, meminfo):
    root, proc = fake
    proc.write_text("4:memory:/\n")
    write(root / "memory/memory.limit_in_bytes", V1_UNLIMITED)
    assert memory_limit(root, proc, meminfo) == MemoryLimit(16 * GIB, "physical memory")


def test_limit_above_the_physical_memory_is_the_physical_memory(fake, meminfo):
    root, proc = fake
    write(root / "memory.max", f"{64 * GIB}\n")
    assert memory_limit(root, proc, meminfo).source == "physical memory"


def test_nothing_readable_is_no_limit(tmp_path):
    none = tmp_path / "none"
    assert memory_limit(none, none, none) == NO_LIMIT


TWO_CPUS = CpuShare(2, "cgroup v2 cpu.max")
V2_256M = MemoryLimit(256 * MIB, "cgroup v2 memory.max")


def test_memory_limit_decides_when_it_holds_fewer_workers():
    # (256 - 64 reserved for the master) / 64 per worker = 3, under 2 x 2 + 1 = 5.
    count = worker_count(load_settings({}), TWO_CPUS, V2_256M)
    assert count.workers == 3
    assert count.source == (
        "cgroup v2 memory.max: (256 - 64 reserved) MiB / 64 MiB per worker "
        "(WORKER_MEMORY_MB) (cpu allows 5)"
    )


def test_cpu_decides_when_memory_holds_more():
    count = worker_count(
        load_settings({}), CpuShare(1, "cgroup v2 cpu.max"), MemoryLimit(512 * MIB, "x")
    )
    assert count.workers == 3
    assert count.source == "cgroup v2 cpu.max: 1 cpu x 2 + 1 (memory allows 7)"


def test_worker_memory_mb_sets_the_budget():
    count = worker_count(load_settings({"WORKER_MEMORY_MB": "150"}), TWO_CPUS, V2_256M)
    assert count.workers == 1  # (256 - 64) / 150
    count = worker_count(load_settings({"WORKER_MEMORY_MB": "32"}), TWO_CPUS, V2_256M)
    assert count.workers == 5  # (256 - 64) / 32 = 6: the CPU formula decides
    assert count.source.startswith("cgroup v2 cpu.max")


def test_a_limit_below_the_reserve_still_gives_one_worker():
    count = worker_count(load_settings({}), TWO_CPUS, MemoryLimit(96 * MIB, "x"))
    assert count.workers == 1
    assert "at least 1" in count.source


def test_preload_reserves_a_worker_more_for_the_master():
    # gthread: preloading is refused with gevent, which may be this project's default.
    environ = {"GUNICORN_PRELOAD": "true", "GUNICORN_WORKER_CLASS": "gthread"}
    count = worker_count(load_settings(environ), TWO_CPUS, V2_256M)
    assert count.workers == 2  # (256 - 128) / 64
    assert "128 reserved" in count.source


def test_max_workers_below_both_limits_decides():
    count = worker_count(load_settings({"MAX_WORKERS": "2"}), TWO_CPUS, V2_256M)
    assert count.workers == 2
    assert count.source == "MAX_WORKERS (cpu allows 5, memory allows 3)"


def test_web_concurrency_wins_over_memory_and_says_so():
    count = worker_count(load_settings({"WEB_CONCURRENCY": "8"}), TWO_CPUS, V2_256M)
    assert count.workers == 8
    assert count.source.startswith("environment (WEB_CONCURRENCY), over the 3 that memory")


def test_web_concurrency_within_memory_is_just_the_environment():
    count = worker_count(load_settings({"WEB_CONCURRENCY": "3"}), TWO_CPUS, V2_256M)
    assert count == worker_count(load_settings({"WEB_CONCURRENCY": "3"}), TWO_CPUS, NO_LIMIT)
    assert count.source == "environment (WEB_CONCURRENCY)"


def test_no_memory_limit_leaves_the_cpu_formula():
    count = worker_count(load_settings({}), TWO_CPUS, NO_LIMIT)
    assert count.workers == 5
    assert "memory" not in count.source


@pytest.mark.parametrize("value", ["0", "-64", "64MB", "0.5"])
def test_worker_memory_mb_must_be_a_positive_whole_number(value):
    with pytest.raises(SettingsError, match="WORKER_MEMORY_MB"):
        load_settings({"WORKER_MEMORY_MB": value})
