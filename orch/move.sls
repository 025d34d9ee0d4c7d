{#- Orchestrated online move of one guest package.

    salt-run state.orchestrate orch.move pillar='{"vpkg": {"package": "slvm1", "target": "xyzo2"}}'

    With several clusters under the master, add "cluster": NAME where the package name is in more
    than one. The target may be left out: the runner then picks the eligible node with the most
    available capacity. Copy orch/ into the master's file_roots.
-#}
{%- set package = salt['pillar.get']('vpkg:package') %}
{%- set target = salt['pillar.get']('vpkg:target') %}
{%- set cluster = salt['pillar.get']('vpkg:cluster') %}
vpkg-move-{{ package }}:
  salt.runner:
    - name: vpkg.move
    - package: {{ package | yaml_encode }}
{%- if target %}
    - target: {{ target | yaml_encode }}
{%- endif %}
{%- if cluster %}
    - cluster: {{ cluster | yaml_encode }}
{%- endif %}
