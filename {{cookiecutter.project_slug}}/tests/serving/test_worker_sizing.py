"""Worker count from fake cgroup v1 and v2 trees, affinity, and the environment."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.serving.settings import load_settings
from {{ cookiecutter.package_name }}.serving.worker_sizing import CpuShare, cpu_share, worker_count


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
    count = worker_count(load_settings({}), CpuShare(1, "cgroup v2 cpu.max"))
    assert count.workers == 3
    assert "cgroup v2 cpu.max" in count.source


def test_workers_per_core():
    settings = load_settings({"WORKERS_PER_CORE": "4"})
    assert worker_count(settings, CpuShare(2, "cpu affinity")).workers == 9


def test_web_concurrency_fixes_the_count():
    count = worker_count(load_settings({"WEB_CONCURRENCY": "2"}), CpuShare(64, "cpu affinity"))
    assert count.workers == 2
    assert "WEB_CONCURRENCY" in count.source


def test_max_workers_caps_the_formula():
    count = worker_count(load_settings({"MAX_WORKERS": "4"}), CpuShare(64, "cpu affinity"))
    assert count.workers == 4
    assert "MAX_WORKERS" in count.source
