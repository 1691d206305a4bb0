"""Every sidebar input of the what-if app moved once (qa2), through ``streamlit.testing.v1.AppTest``.

Its own file: pytest-xdist's ``--dist loadfile`` runs a file on one worker, and this test is a third of the app
tests' CPU (tests/test_app.py's helpers)."""
from __future__ import annotations

import pytest

from test_app import _app, _charts, _metrics

pytestmark = pytest.mark.slow  # ~40 CPU s: handed to an xdist worker first (tests/conftest.py HEAVY_MARKERS)


def test_every_widget_once_including_extremes():
    """Each sidebar input moved once, to an extreme where it has one: no exception, either numbers or
    one error naming the field, and the charts and tables follow the inputs."""
    at = _app()
    state = lambda: (tuple(_metrics(at).items()), len(_charts(at)), len(at.dataframe))  # noqa: E731

    def check(label):
        assert not at.exception, (label, [e.value for e in at.exception])
        if at.error:  # refused: one message naming the field, no numbers shown as if planned
            assert len(at.error) == 1 and "**" in at.error[0].value, (label, [e.value for e in at.error])
        else:
            m = _metrics(at)
            assert all(v and v != "-" for v in m.values()), (label, m)
            assert len(_charts(at)) >= 4 and len(at.dataframe) >= 3, label

    # the moves before `w_gpus` search one GPU type on one cloud, not the preset's three types on every cloud: the
    # same inputs and checks at about a sixth of the CPU a rerun (the search is most of it). Azure, whose one H100
    # instance (Standard_ND96isr_H100_v5) is one option to size where gcp's a3-highgpu-8g and a3-megagpu-8g were
    # two: a quarter less CPU for the whole test. From the `w_gpus` move on the hardware inputs are the moves' own
    # values, as before.
    at.multiselect(key="w_gpus").set_value(["H100-SXM-80GB"])
    at.multiselect(key="w_clouds").set_value(["azure"]).run()
    check("one GPU type, one cloud")
    assert "azure:" in at.success[0].value, at.success[0].value  # the narrowing holds (the moves below plan on it)
    seen = {state()}
    ss = lambda k: at.select_slider(key=k)  # noqa: E731
    moves = [
        ("w_seq_len", lambda: ss("w_seq_len").set_value(ss("w_seq_len").options[-1])),
        ("w_global_batch", lambda: ss("w_global_batch").set_value(ss("w_global_batch").options[-1])),
        ("w_tokens_b huge", lambda: at.number_input(key="w_tokens_b").set_value(1e5)),
        ("w_tokens_b tiny", lambda: at.number_input(key="w_tokens_b").set_value(0.001)),
        ("w_precision", lambda: at.selectbox(key="w_precision").set_value("fp8")),
        ("w_optimizer", lambda: at.selectbox(key="w_optimizer").set_value("sgd_momentum"
                                                                         if "sgd_momentum" in at.selectbox(key="w_optimizer").options
                                                                         else at.selectbox(key="w_optimizer").options[-1])),
        ("w_mode", lambda: at.selectbox(key="w_mode").set_value("lora")),
        ("w_lora_rank_n", lambda: at.number_input(key="w_lora_rank_n").set_value(4096)),
        ("w_mode back", lambda: at.selectbox(key="w_mode").set_value("pretrain")),
        ("w_micro_batch", lambda: ss("w_micro_batch").set_value(ss("w_micro_batch").options[-1])),
        ("w_recompute", lambda: ss("w_recompute").set_value("full")),
        ("w_tp", lambda: ss("w_tp").set_value(ss("w_tp").options[-1])),
        ("w_pp", lambda: ss("w_pp").set_value(ss("w_pp").options[-1])),
        ("w_cp", lambda: ss("w_cp").set_value(ss("w_cp").options[-1])),
        ("w_zero", lambda: ss("w_zero").set_value(3)),
        ("parallel auto", lambda: [ss(k).set_value(ss(k).options[0]) for k in ("w_micro_batch", "w_tp", "w_pp", "w_cp")]),
        ("w_gpus", lambda: at.multiselect(key="w_gpus").set_value(at.multiselect(key="w_gpus").options[:1])),
        ("w_clouds", lambda: at.multiselect(key="w_clouds").set_value(at.multiselect(key="w_clouds").options[:1])),
        ("w_gpus none", lambda: at.multiselect(key="w_gpus").set_value([])),
        ("w_instance", lambda: at.selectbox(key="w_instance").set_value(at.selectbox(key="w_instance").options[-1])),
        ("w_nodes", lambda: at.selectbox(key="w_nodes").set_value(512)),
        ("unpin", lambda: [at.selectbox(key="w_instance").set_value(None), at.selectbox(key="w_nodes").set_value(None),
                           at.multiselect(key="w_clouds").set_value([])]),
        # the moves below are not about the hardware: one GPU type on one cloud again (spot priced there), as the
        # moves before `w_gpus`: the same refusals and numbers at about half their CPU on every GPU of every cloud
        ("narrow again", lambda: [at.multiselect(key="w_gpus").set_value(["H100-SXM-80GB"]),
                                  at.multiselect(key="w_clouds").set_value(["aws"])]),
        ("w_max_gpus", lambda: ss("w_max_gpus").set_value(1)),
        ("w_max_gpus max", lambda: ss("w_max_gpus").set_value(ss("w_max_gpus").options[-1])),
        ("w_inter_node_gbps", lambda: at.number_input(key="w_inter_node_gbps").set_value(0.001)),
        # (a fabric names the network: the Gb/s figure beside it is off, not refused as "not both"; fabriclat48)
        ("w_fabric", lambda: at.selectbox(key="w_fabric").set_value("Ethernet-100G")),
        ("w_spot", lambda: at.checkbox(key="w_spot").check()),
        ("w_budget_musd", lambda: at.number_input(key="w_budget_musd").set_value(1e-6)),
        ("w_budget_musd off", lambda: at.number_input(key="w_budget_musd").set_value(0.0)),
        ("w_deadline_days", lambda: at.number_input(key="w_deadline_days").set_value(0.01)),
        ("w_deadline_days off", lambda: at.number_input(key="w_deadline_days").set_value(0.0)),
        ("w_objective", lambda: at.selectbox(key="w_objective").set_value("time")),
        ("preset", lambda: at.selectbox(key="preset").set_value("resnet50")),
    ]
    for label, move in moves:
        move()
        at.run()
        check(label)
        seen.add(state())
    assert len(seen) > len(moves) // 2  # the page follows its inputs
    for option in at.radio(key="sens_input").options:
        at.radio(key="sens_input").set_value(option).run()
        assert not at.exception and option.split(" (")[0] in at.dataframe[0].value.columns[0]
