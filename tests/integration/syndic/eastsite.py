"""The site under test: cluster ``east``, its VM hosts' minion ids, the syndic's id and address."""

from ..labsetup import cluster_definition

CLUSTER = "east"
SYNDIC = "vpkg-syndic"
LOWER_IP = "127.0.0.2"  # the lower master's address (the master of masters is on 127.0.0.1)
# node -> memory capacity; packages (name, memory weight, node)
NODES = {"xyzo1": 16, "xyzo2": 16, "xyzo3": 16}
PACKAGES = [("e1", 4, "xyzo1"), ("e2", 4, "xyzo1"), ("e3", 4, "xyzo2")]


def minion_id(node):
    return f"{CLUSTER}-{node}"


def definition():
    return cluster_definition(CLUSTER, NODES, PACKAGES)
