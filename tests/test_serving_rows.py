"""An offline plan's options table and its assumptions say what the plan priced (session 25)."""

import yaml

from conftest import answered, write_job

OFFLINE_70B = """model: {preset: llama3-70b}
serving: {mode: batch, requests: 20000, prompt_tokens: 2048, output_tokens: 256, deadline_hours: 1}
cluster: {instance: aws:p5.48xlarge, nodes: 1}
"""


def test_options_table_shows_the_replicas_its_cost_prices(cli, tmp_path):
    """A row sized by simulation is priced at the simulated fleet: the TP2 row's $ was the 6 replicas the simulated
    backlog needed while its replicas column read the analytic 4. Every row's replicas cell is now the fleet its $
    pays for, and at least one row here is re-sized by the simulation (else the check would be empty)."""
    # half an hour (was the job's 1 h): since cap33 the analytic backlog's steady part is the step as the engine runs it
    # (``lumped_iteration``) and at 1 h every row's analytic fleet is the simulated one (TP2 4 -> 6 analytic, 6
    # simulated); at 0.5 h the simulation re-sizes TP2 12 -> 13
    # offline47: a p5.48xlarge's 8 GPUs are filled with replicas, which leaves every row's simulated fleet inside the
    # analytic one's deadline; on 2-GPU nodes a TP2 replica is its node (no fill): the simulation re-sizes 11 -> 12
    job = yaml.safe_load(OFFLINE_70B)
    job["serving"]["deadline_hours"] = 0.5
    job["cluster"] = {"gpu": "H100-SXM-80GB", "gpus_per_node": 2, "price_usd_hr": 20.0, "nodes": 1}
    path = write_job(tmp_path, job)
    res = answered(cli("serve", path, "--json"))
    resized = [o for o in res["options"] if o.get("sized_by") == "simulated"
               and o["simulated"]["replicas"] != o["offline_replicas"]]
    assert resized, [(o["tp"], o.get("offline_replicas"), (o.get("simulated") or {}).get("replicas")) for o in res["options"]]
    code, table, err = cli("serve", path)
    assert code == 0, err
    lines = table.splitlines()
    head = [c.strip() for c in next(line for line in lines if "req/s/replica" in line).split("┃")]
    col, tp_col = head.index("replicas"), head.index("TP")
    rows = [[c.strip() for c in line.split("│")] for line in lines if line.startswith("│")]
    for o in resized:
        row = next(r for r in rows if r[tp_col] == str(o["tp"]))
        assert row[col] == str(o["simulated"]["replicas"]), (row, o["offline_replicas"])


def test_offline_node_note_names_what_sizes_an_offline_fleet(cli, tmp_path):
    """``cluster.nodes`` on an offline job said the nodes follow from replicas "sized for serving.qps", a field an
    offline job does not have; it now names the requests and the deadline, and the cap that does apply."""
    plan = answered(cli("serve", write_job(tmp_path, yaml.safe_load(OFFLINE_70B)), "--json", "--no-simulate"))
    note = next(a for a in plan["assumptions"] if a.startswith("cluster.nodes (1) not applied"))
    assert "serving.qps" not in note and "requests and its deadline" in note and "constraints.max_gpus" in note, note
