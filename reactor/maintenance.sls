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
    minion wrote. Anything else is ignored and logged; a request whose values are not text is
    not even handed on (below).
-#}
{#- Only text is passed on, and exactly as sent, never as SLS text: yaml_encode keeps every
    character of a string. A node, sender or token that is not a string (a list, a mapping, a
    number, bytes: no request of vpkg.maintenance carries one) renders nothing, since no encoding
    Jinja offers keeps every such value intact. The runner then refuses whatever text is not a node
    name or a confirmed token. #}
{%- set payload = data.get('data') if data.get('data') is mapping else data %}
{%- set sender = data.get('id') %}
{%- set node = payload.get('node', sender) %}
{%- set token = payload.get('token') %}
{%- set text = sender is string and node is string and (token is none or token is string) %}
{%- if tag in ('vpkg/maintenance/start', 'vpkg/maintenance/end') and sender and text %}
vpkg-maintenance:
  runner.state.orchestrate:
    - args:
      - mods: {{ 'orch.evacuate' if tag.endswith('/start') else 'orch.restore' }}
      - pillar:
          vpkg:
            node: {{ node | yaml_encode }}
            requested_by: {{ sender | yaml_encode }}
            token: {{ token | yaml_encode }}
{%- endif %}
