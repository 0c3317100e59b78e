"""`--check` on the converged cluster reports no changes and no failures."""


def test_check_mode_on_converged_cluster_changes_nothing(cluster):
    from cluster import project_playbook, run_playbook

    playbook = project_playbook("site.yml")
    rc, output, recap = run_playbook(playbook, check=True)
    assert rc == 0, output[-4000:]
    assert set(recap) >= set(cluster.brokers) | set(cluster.bridge) | set(cluster.loadbalancers)
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"] or r["failed"] or r["unreachable"]}
    assert not changed, f"check mode reported changes/failures: {changed}\n{output[-4000:]}"
