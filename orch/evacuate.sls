{#- Evacuate a VM host for maintenance (all its guest packages moved online, placement recorded).

    salt-run state.orchestrate orch.evacuate pillar='{"vpkg": {"node": "xyzo1"}}'

    Also what reactor/maintenance.sls runs for `vpkg/maintenance/start`, with `requested_by`.
-#}
{%- set vp = salt['pillar.get']('vpkg', {}) %}
vpkg-evacuate:
  salt.runner:
    - name: vpkg.evacuate
    - node: {{ vp.get('node') | json }}
{%- if vp.get('requested_by') %}
    - requested_by: {{ vp.get('requested_by') | json }}
{%- endif %}
{%- if vp.get('deadline') %}
    - deadline: {{ vp.get('deadline') | json }}
{%- endif %}
