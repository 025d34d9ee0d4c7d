{#- A VM host asks for its own maintenance:

      salt-call vpkg.maintenance start     # evacuate me
      salt-call vpkg.maintenance end       # bring my guests back

    Wire it in the master config (see docs/maintenance.md):

      reactor:
        - 'vpkg/maintenance/*':
          - /srv/reactor/vpkg/maintenance.sls

    The reactor only hands the request to orchestrate, with the sender's id and the request's
    one-time token. The runner then checks that the sender is a cluster node asking for itself
    (an optional `node` in the event data must name the sender's own node), that it is not already
    in maintenance, and that the node's own minion confirms the token (vpkg.confirm_maintenance):
    the id in an event is not proof, as Salt re-fires a minion's event list with the data that
    minion wrote. Anything else is ignored and logged.
-#}
{#- Values go to the pillar exactly as sent, never as SLS text: yaml_encode for scalars (it keeps
    every character), json for lists and mappings (yaml_encode takes scalars only). The runner
    then refuses whatever is not a node name. #}
{%- macro exact(value) -%}
{{ value | yaml_encode if (value is string or value is not iterable) else value | json }}
{%- endmacro %}
{%- set payload = data.get('data') if data.get('data') is mapping else data %}
{%- set sender = data.get('id') %}
{%- set node = payload.get('node', sender) %}
{%- if tag in ('vpkg/maintenance/start', 'vpkg/maintenance/end') and sender %}
vpkg-maintenance:
  runner.state.orchestrate:
    - args:
      - mods: {{ 'orch.evacuate' if tag.endswith('/start') else 'orch.restore' }}
      - pillar:
          vpkg:
            node: {{ exact(node) }}
            requested_by: {{ exact(sender) }}
            token: {{ exact(payload.get('token')) }}
{%- endif %}
