{#- Move the guest packages evacuated from a VM host back to it, after maintenance.

    salt-run state.orchestrate orch.restore pillar='{"vpkg": {"node": "xyzo1"}}'
    salt-run state.orchestrate orch.restore pillar='{"vpkg": {"node": "xyzo1", "cluster": "prod"}}'

    Also what reactor/maintenance.sls runs for `vpkg/maintenance/end`, with `requested_by`.
-#}
{%- set vp = salt['pillar.get']('vpkg', {}) %}
vpkg-restore:
  salt.runner:
    - name: vpkg.restore
    - node: {{ vp.get('node') | yaml_encode }}
{%- if vp.get('requested_by') %}
    - requested_by: {{ vp.get('requested_by') | yaml_encode }}
    - token: {{ vp.get('token') | yaml_encode }}
{%- endif %}
{%- if vp.get('cluster') %}
    - cluster: {{ vp.get('cluster') | yaml_encode }}
{%- endif %}
