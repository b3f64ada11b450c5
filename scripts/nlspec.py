#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Generic-netlink code from the one spec, Documentation/netlink/specs/atls.yaml
# (the format of the kernel's Documentation/netlink/genetlink.yaml).
#
#   nlspec.py uapi              the generic-netlink block of
#                               include/uapi/linux/atls.h (between its
#                               "nlspec" markers), to stdout
#   nlspec.py check-uapi HDR    fail unless HDR's block is exactly that
#   nlspec.py update-uapi HDR   rewrite HDR's block in place (`make nlspec`)
#   nlspec.py defs-check        C source of compile-time checks that the
#                               spec's definitions (role, verdict, evidence,
#                               reason, peer flags) have the header's values
#   nlspec.py kernel            atls.ko's attribute policies, small ops and
#                               multicast groups (included by kmod/netlink.c)
#   nlspec.py user              libnl attribute policies for userspace
#                               (atlsd, the test helper client)
#
# Why not the kernel's own tools/net/ynl/ynl-gen-c.py: Linux 6.1 ships no
# generator and no genetlink schema at all, and the 6.12 generator emits
# struct genl_split_ops, which 6.1 (the oldest kernel atls.ko supports) does
# not have. This script reads the same YAML format and emits only what 6.1
# and later all accept (struct genl_small_ops with the family policy).
#
# Policy rules (Documentation/netlink.rst, "Attribute policies"):
#  - kernel: an attribute of the "atls" set that no operation's do.request
#    lists is NLA_REJECT (the kernel only sends it); every attribute of a set
#    nested from a request attribute is validated by its type and checks;
#    enums by their largest value, enum-as-flags by the mask of all flags.
#  - userspace (libnl) validates what the kernel sends: every attribute by
#    its type; strings bounded by max-len (+1 for the NUL); binaries by
#    min-len/max-len/exact-len.
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, '..', 'Documentation', 'netlink', 'specs', 'atls.yaml')
BEGIN = '/* nlspec: begin (generated from Documentation/netlink/specs/atls.yaml by scripts/nlspec.py; `make nlspec`) */'
END = '/* nlspec: end */'


def c_upper(name):
    return name.upper().replace('-', '_')


def load(path=SPEC):
    with open(path) as f:
        return yaml.safe_load(f)


def family_prefix(spec):
    return c_upper(spec['name']) + '_'


def definitions(spec):
    return {d['name']: d for d in spec.get('definitions', [])}


def enum_entries(d):
    """[(name, value)] of an enum or flags definition."""
    out = []
    val = d.get('value-start', 0 if d['type'] == 'enum' else 0)
    for e in d['entries']:
        if isinstance(e, dict):
            name = e['name']
            val = e.get('value', val)
        else:
            name = e
        out.append((name, (1 << val) if d['type'] == 'flags' else val))
        val += 1
    return out


def attr_sets(spec):
    return {s['name']: s for s in spec['attribute-sets']}


def attr_const(aset, attr):
    return c_upper(aset['name-prefix'] + attr['name'])


def set_enum_name(spec, aset):
    # atls -> enum atls_attr; peer -> enum atls_peer_attr (as in the header)
    base = spec['name'].replace('-', '_')
    if aset['name'] == spec['name']:
        return base + '_attr'
    return base + '_' + aset['name'].replace('-', '_') + '_attr'


def set_max(aset):
    return c_upper(aset['name-prefix']) + 'MAX'


def operations(spec):
    ops = []
    val = 1
    for op in spec['operations']['list']:
        val = op.get('value', val)
        ops.append((op, val))
        val += 1
    return ops


def op_const(spec, op):
    return c_upper(spec['operations']['name-prefix'] + op['name'])


def uapi(spec):
    p = family_prefix(spec)
    lines = [BEGIN, '',
             '#define %sGENL_NAME\t\t"%s"' % (p, spec['name']),
             '#define %sGENL_VERSION\t%d' % (p, spec.get('version', 1))]
    for g in spec['mcast-groups']['list']:
        lines.append('#define %sMCGRP_%s\t"%s"' % (p, c_upper(g['name']), g['name']))
    lines += ['', 'enum %s_cmd {' % spec['name'].replace('-', '_'),
              '\t%sCMD_UNSPEC,' % p]
    nxt = 1
    for op, val in operations(spec):
        if val != nxt:
            lines.append('\t%s = %d,' % (op_const(spec, op), val))
        else:
            lines.append('\t%s,' % op_const(spec, op))
        nxt = val + 1
    lines += ['\t__%sCMD_MAX' % p, '};', '#define %sCMD_MAX (__%sCMD_MAX - 1)' % (p, p)]
    for aset in spec['attribute-sets']:
        pre = c_upper(aset['name-prefix'])
        lines += ['', 'enum %s {' % set_enum_name(spec, aset), '\t%sUNSPEC,' % pre]
        for a in aset['attributes']:
            note = a['type']
            if 'enum' in a:
                note += ', %s %s_%s' % ('flags' if a.get('enum-as-flags') else 'enum',
                                        spec['name'], a['enum'].replace('-', '_'))
            if a['type'] == 'nest':
                note += ', %s' % set_enum_name(spec, attr_sets(spec)[a['nested-attributes']])
            lines.append('\t%s,\t/* %s */' % (attr_const(aset, a), note))
        lines += ['\t__%sMAX' % pre, '};', '#define %sMAX (__%sMAX - 1)' % (pre, pre)]
    lines += ['', END]
    return '\n'.join(lines) + '\n'


def uapi_block(text, path):
    b = text.find(BEGIN.split(' (')[0])
    e = text.find(END)
    if b < 0 or e < b:
        sys.exit('%s: no nlspec markers (see scripts/nlspec.py)' % path)
    return b, e + len(END) + 1


def check_uapi(spec, path):
    with open(path) as f:
        text = f.read()
    b, e = uapi_block(text, path)
    want = uapi(spec)
    if text[b:e] != want:
        import difflib
        sys.stderr.writelines(difflib.unified_diff(
            text[b:e].splitlines(True), want.splitlines(True),
            path, 'generated from atls.yaml'))
        sys.exit('%s: generic-netlink block differs from '
                 'Documentation/netlink/specs/atls.yaml; run `make nlspec` '
                 'to regenerate it, and review the diff' % path)


def update_uapi(spec, path):
    with open(path) as f:
        text = f.read()
    b, e = uapi_block(text, path)
    with open(path, 'w') as f:
        f.write(text[:b] + uapi(spec) + text[e:])


def defs_check(spec):
    p = family_prefix(spec)
    out = ['/* Generated by scripts/nlspec.py defs-check: do not edit. */',
           '#include <linux/atls.h>', '']
    for d in spec.get('definitions', []):
        pre = c_upper(d.get('name-prefix', spec['name'] + '-' + d['name'] + '-'))
        for name, val in enum_entries(d):
            c = pre + c_upper(name)
            out.append('_Static_assert(%s == %d, "atls.yaml: %s %s is %d, '
                       'include/uapi/linux/atls.h disagrees");'
                       % (c, val, d['name'], name, val))
        if 'enum-cnt-name' in d:	# the wire range ends there, no value missing
            out.append('_Static_assert(%s == %d, "atls.yaml: %s has %d values on '
                       'the wire, include/uapi/linux/atls.h disagrees");'
                       % (c_upper(d['enum-cnt-name']), val + 1, d['name'], val + 1))
    return '\n'.join(out) + '\n'


def request_attrs(spec):
    names = set()
    for op, _ in operations(spec):
        req = op.get('do', {}).get('request', {})
        names.update(req.get('attributes', []))
    return names


def enum_max(spec, attr):
    d = definitions(spec)[attr['enum']]
    vals = [v for _, v in enum_entries(d)]
    if attr.get('enum-as-flags') or d['type'] == 'flags':
        m = 0
        for v in vals:
            m |= v
        return 'NLA_POLICY_MASK(NLA_%s, 0x%x)' % (c_upper(attr['type']), m)
    return 'NLA_POLICY_MAX(NLA_%s, %d)' % (c_upper(attr['type']), max(vals))


def policy_name(spec, aset, user=False):
    base = spec['name'].replace('-', '_')
    if aset['name'] != spec['name']:
        base += '_' + aset['name'].replace('-', '_')
    return base + ('_nl_user_policy' if user else '_nl_policy')


def kernel_policy_entry(spec, aset, a):
    t = a['type']
    ck = a.get('checks', {})
    if t == 'pad':
        return '{ .type = NLA_REJECT }'
    if t == 'nest':
        sub = attr_sets(spec)[a['nested-attributes']]
        return 'NLA_POLICY_NESTED(%s)' % policy_name(spec, sub)
    if t in ('u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64'):
        if 'enum' in a:
            return enum_max(spec, a)
        if 'min' in ck or 'max' in ck:
            return 'NLA_POLICY_RANGE(NLA_%s, %d, %d)' % (c_upper(t), ck['min'], ck['max'])
        return '{ .type = NLA_%s }' % c_upper(t)
    if t == 'binary':
        if 'exact-len' in ck:
            return 'NLA_POLICY_EXACT_LEN(%d)' % ck['exact-len']
        if 'min-len' in ck or 'max-len' in ck:
            return 'NLA_POLICY_RANGE(NLA_BINARY, %d, %d)' % (ck.get('min-len', 0), ck['max-len'])
        return '{ .type = NLA_BINARY }'
    if t == 'string':
        if 'max-len' in ck:
            return '{ .type = NLA_NUL_STRING, .len = %d }' % ck['max-len']
        return '{ .type = NLA_NUL_STRING }'
    sys.exit('nlspec: attribute type %s not supported' % t)


def kernel(spec):
    sets = attr_sets(spec)
    top = sets[spec['name']]
    req = request_attrs(spec)
    nested = {sets[a['nested-attributes']]['name'] for a in top['attributes']
              if a['type'] == 'nest' and a['name'] in req}
    out = ['/* SPDX-License-Identifier: GPL-2.0 */',
           '/* Generated from Documentation/netlink/specs/atls.yaml by',
           ' * scripts/nlspec.py kernel: do not edit. Included once, by netlink.c. */',
           '']
    # nested sets first: the top policy refers to them
    order = [s for s in spec['attribute-sets'] if s['name'] in nested] + [top]
    for aset in order:
        out.append('static const struct nla_policy %s[%s + 1] = {'
                   % (policy_name(spec, aset), set_max(aset)))
        for a in aset['attributes']:
            if aset is top and a['name'] not in req:
                ent = '{ .type = NLA_REJECT }'
            else:
                ent = kernel_policy_entry(spec, aset, a)
            out.append('\t[%s] = %s,' % (attr_const(aset, a), ent))
        out += ['};', '']
    base = spec['name'].replace('-', '_')
    doits = []
    for op, _ in operations(spec):
        if 'do' in op:
            fn = '%s_nl_%s_doit' % (base, op['name'].replace('-', '_'))
            doits.append((op, fn))
            out.append('static int %s(struct sk_buff *skb, struct genl_info *info);' % fn)
    out += ['', 'static const struct genl_small_ops %s_nl_ops[] = {' % base]
    for op, fn in doits:
        flags = ' | '.join('GENL_' + c_upper(f) for f in op.get('flags', [])) or '0'
        out += ['\t{', '\t\t.cmd\t= %s,' % op_const(spec, op),
                '\t\t.doit\t= %s,' % fn, '\t\t.flags\t= %s,' % flags, '\t},']
    out += ['};', '', 'static const struct genl_multicast_group %s_nl_mcgrps[] = {' % base]
    for g in spec['mcast-groups']['list']:
        out.append('\t{ .name = %sMCGRP_%s },' % (family_prefix(spec), c_upper(g['name'])))
    out.append('};')
    return '\n'.join(out) + '\n'


LIBNL = {'u8': 'NLA_U8', 'u16': 'NLA_U16', 'u32': 'NLA_U32', 'u64': 'NLA_U64',
         's8': 'NLA_S8', 's16': 'NLA_S16', 's32': 'NLA_S32', 's64': 'NLA_S64',
         'string': 'NLA_STRING', 'binary': 'NLA_UNSPEC', 'nest': 'NLA_NESTED'}


def user(spec):
    out = ['/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */',
           '/* Generated from Documentation/netlink/specs/atls.yaml by',
           ' * scripts/nlspec.py user: do not edit. libnl policies for what the',
           ' * kernel sends (static: each user includes it once). */',
           '#include <netlink/attr.h>', '#include <linux/atls.h>', '']
    for aset in spec['attribute-sets']:
        out.append('static struct nla_policy %s[%s + 1] __attribute__((unused)) = {'
                   % (policy_name(spec, aset, True), set_max(aset)))
        for a in aset['attributes']:
            t = a['type']
            if t == 'pad':
                continue
            ck = a.get('checks', {})
            f = ['.type = %s' % LIBNL[t]]
            if t == 'string' and 'max-len' in ck:
                f.append('.maxlen = %d' % (ck['max-len'] + 1))
            if t == 'binary':
                lo = ck.get('exact-len', ck.get('min-len'))
                hi = ck.get('exact-len', ck.get('max-len'))
                if lo:
                    f.append('.minlen = %d' % lo)
                if hi:
                    f.append('.maxlen = %d' % hi)
            out.append('\t[%s] = { %s },' % (attr_const(aset, a), ', '.join(f)))
        out += ['};', '']
    return '\n'.join(out)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__ or 'usage: nlspec.py uapi|check-uapi|update-uapi|defs-check|kernel|user')
    spec = load()
    cmd = argv[1]
    if cmd == 'uapi':
        sys.stdout.write(uapi(spec))
    elif cmd == 'check-uapi':
        check_uapi(spec, argv[2])
    elif cmd == 'update-uapi':
        update_uapi(spec, argv[2])
    elif cmd == 'defs-check':
        sys.stdout.write(defs_check(spec))
    elif cmd == 'kernel':
        sys.stdout.write(kernel(spec))
    elif cmd == 'user':
        sys.stdout.write(user(spec))
    else:
        sys.exit('nlspec.py: unknown command ' + cmd)


if __name__ == '__main__':
    main(sys.argv)
