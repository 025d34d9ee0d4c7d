{#- Evacuate a VM host for maintenance (all its guest packages moved online, placement recorded).

    salt-run state.orchestrate orch.evacuate pillar='{"vpkg": {"node": "xyzo1"}}'
    salt-run state.orchestrate orch.evacuate pillar='{"vpkg": {"node": "xyzo1", "cluster": "prod"}}'

    Also what reactor/maintenance.sls runs for `vpkg/maintenance/start`, with `requested_by`.
-#}
{%- set vp = salt['pillar.get']('vpkg', {}) %}
vpkg-evacuate:
  salt.runner:
    - name: vpkg.evacuate
    - node: {{ vp.get('node') | yaml_encode }}
{%- if vp.get('requested_by') %}
    - requested_by: {{ vp.get('requested_by') | yaml_encode }}
    - token: {{ vp.get('token') | yaml_encode }}
{%- endif %}
{%- if vp.get('cluster') %}
    - cluster: {{ vp.get('cluster') | yaml_encode }}
{%- endif %}
{%- if vp.get('deadline') %}
    - deadline: {{ vp.get('deadline') | yaml_encode }}
{%- endif %}
