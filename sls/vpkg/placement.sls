{#- Highstate placement of guest packages from pillar.

    Pillar:
      vpkg:
        placement:
          slvm1: xyzo2
          oradb1: xyzo1

    Applied on every VM host: the host that runs a package moves it online to its node; the
    others report that the move is not theirs to make. Copy sls/vpkg into file_roots and add
    `vpkg.placement` to the VM hosts' top file.
-#}
{%- for package, node in salt['pillar.get']('vpkg:placement', {}) | dictsort %}
vpkg-placed-{{ package }}:
  vpkg.placed:
    - name: {{ package | yaml_encode }}
    - node: {{ node | yaml_encode }}
{%- endfor %}
