"""``vpkg.status`` of several clusters: a line of figures per cluster, then each cluster drawn."""

import copy
import json
import pathlib

import vpkg_operate
import vpkg_render

DATA = pathlib.Path(__file__).resolve().parent / "data"


class _Answers:
    """What ``Operations.status`` answers for one cluster (recorded demo status, renamed), or a refusal."""

    master = None  # never asked: the views are not asked at once here (ask=_nobody)

    def __init__(self, status=None, refused=None):
        self.answer, self.refused = status, refused

    def status(self):
        if self.refused:
            raise vpkg_operate.Refused(self.refused)
        return copy.deepcopy(self.answer)


def _nobody(masters):
    return {}


def _demo(name):
    status = json.loads((DATA / "runner_status_demo.json").read_text())
    return dict(status, cluster=name)


def test_several_clusters_are_summed_up_then_drawn_one_after_another():
    ret = vpkg_operate.site_status({"prod": _Answers(_demo("prod")), "dr": _Answers(_demo("dr"))}, _nobody)
    assert ret["result"] is True and [c["cluster"] for c in ret["clusters"]] == ["dr", "prod"]
    demo = _demo("x")
    nodes, packages = demo["nodes"], demo["packages"]
    used = sum(c["used"] for n in nodes.values() for cap, c in n["capacities"].items() if cap == "memory")
    figures = ret["summary"][0]
    assert figures["nodes"] == len(nodes) and figures["packages"] == len(packages)
    assert figures["capacity"]["memory"]["used"] == used
    lines = vpkg_render.draw(ret, vpkg_render.Paint(False))
    assert lines[0].startswith(f"dr  {figures['nodes_up']}/{len(nodes)} nodes up, ")
    assert lines[1].startswith("prod  ")
    heads = [i for i, line in enumerate(lines) if line.startswith("cluster ")]
    assert [lines[i].split()[1] for i in heads] == ["dr", "prod"]


def test_a_cluster_that_does_not_answer_fails_the_call_and_the_others_are_shown():
    answers = {"prod": _Answers(_demo("prod")), "dr": _Answers(refused="no node answered")}
    ret = vpkg_operate.site_status(answers, _nobody)
    assert ret["result"] is False and "dr" in ret["comment"]
    lines = vpkg_render.draw(ret, vpkg_render.Paint(False))
    assert lines[0] == "dr  NO ANSWER  no node answered"
    assert any(line.startswith("cluster prod") for line in lines)
