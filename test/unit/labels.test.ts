import {
  LabelSelector,
  SelectorParseError,
  goQuote,
  isDNS1123Subdomain,
  isLabelKey,
  isLabelValue,
  labelSelectorFromMeta,
  labelSelectorFromSet,
  parseLabelSelector,
  validateLabelKey,
  validateLabelValue,
  validateLabels,
} from '../../services/lib/labels';

const NAME_PART_REGEX =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_REGEX =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const PREFIX_REGEX =
  "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

function parseError(s: string): string {
  try {
    parseLabelSelector(s);
  } catch (err) {
    expect(err).toBeInstanceOf(SelectorParseError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(s)} to fail`);
}

describe('labels - key and value syntax', () => {
  test('labels - valid keys have no errors', () => {
    for (const key of ['a', 'A', '1', 'app', 'my.name', 'my_name', 'my-name', '123-abc', 'example.com/MyName', 'a.b-c/x', 'k'.repeat(63), 'kubernetes.io/hostname']) {
      expect(isLabelKey(key)).toEqual([]);
    }
  });

  test('labels - an invalid name part is reported in Kubernetes wording', () => {
    expect(isLabelKey('-a')).toEqual([NAME_PART_REGEX]);
    expect(isLabelKey('a b')).toEqual([NAME_PART_REGEX]);
    expect(isLabelKey('a_')).toEqual([NAME_PART_REGEX]);
  });

  test('labels - an empty key reports both emptiness and the regex', () => {
    expect(isLabelKey('')).toEqual(['name part must be non-empty', NAME_PART_REGEX]);
    expect(isLabelKey('example.com/')).toEqual(['name part must be non-empty', NAME_PART_REGEX]);
  });

  test('labels - a name part longer than 63 bytes is too long', () => {
    expect(isLabelKey('a'.repeat(64))).toEqual(['name part must be no more than 63 bytes']);
  });

  test('labels - the prefix must be a lowercase DNS subdomain', () => {
    expect(isLabelKey('/a')).toEqual(['prefix part must be non-empty']);
    expect(isLabelKey('Example.com/a')).toEqual([PREFIX_REGEX]);
    expect(isLabelKey('a'.repeat(254) + '/a')).toEqual(['prefix part must be no more than 253 bytes']);
    expect(isLabelKey('-'.repeat(254) + '/a')).toEqual(['prefix part must be no more than 253 bytes', PREFIX_REGEX]);
  });

  test('labels - more than one slash is one error', () => {
    expect(isLabelKey('a/b/c')).toEqual([
      "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ]);
  });

  test('labels - label values may be empty and follow the value syntax', () => {
    for (const v of ['', 'a', 'MyValue', 'my_value', '12345', 'a.b-c_d', 'v'.repeat(63)]) expect(isLabelValue(v)).toEqual([]);
    expect(isLabelValue('-a')).toEqual([VALUE_REGEX]);
    expect(isLabelValue('a/b')).toEqual([VALUE_REGEX]);
    expect(isLabelValue('v'.repeat(64))).toEqual(['must be no more than 63 bytes']);
    expect(isLabelValue('é')).toEqual([VALUE_REGEX]);
  });

  test('labels - DNS subdomains are lowercase and dotted', () => {
    expect(isDNS1123Subdomain('example.com')).toEqual([]);
    expect(isDNS1123Subdomain('a-b.c')).toEqual([]);
    expect(isDNS1123Subdomain('a..b')).toHaveLength(1);
    expect(isDNS1123Subdomain('A')).toHaveLength(1);
  });

  test('labels - validateLabelKey and validateLabelValue produce complete field errors', () => {
    expect(validateLabelKey('a b', 'metadata.labels')).toEqual([`metadata.labels: Invalid value: "a b": ${NAME_PART_REGEX}`]);
    expect(validateLabelKey('ok', 'metadata.labels')).toEqual([]);
    expect(validateLabelValue('-x', 'metadata.labels')).toEqual([`metadata.labels: Invalid value: "-x": ${VALUE_REGEX}`]);
    expect(validateLabelValue('', 'metadata.labels')).toEqual([]);
  });

  test('labels - validateLabels checks every key and value in key order', () => {
    expect(validateLabels({ 'b b': 'ok', a: '-bad' }, 'metadata.labels')).toEqual([
      `metadata.labels: Invalid value: "-bad": ${VALUE_REGEX}`,
      `metadata.labels: Invalid value: "b b": ${NAME_PART_REGEX}`,
    ]);
    expect(validateLabels(undefined, 'metadata.labels')).toEqual([]);
    expect(validateLabels({ app: 'web' }, 'metadata.labels')).toEqual([]);
  });

  test('labels - goQuote escapes like Go strconv.Quote', () => {
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote('\n\t\x00\x7f')).toBe('"\\n\\t\\x00\\x7f"');
    expect(goQuote('héllo')).toBe('"héllo"');
    expect(goQuote('\u200b')).toBe('"\\u200b"');
    expect(goQuote('\x07\b\f\r\v')).toBe('"\\a\\b\\f\\r\\v"');
    expect(goQuote('\u{e0001}')).toBe('"\\U000e0001"');
  });
});

describe('labels - parsing the string syntax', () => {
  test('labels - the empty string and whitespace select everything', () => {
    for (const s of ['', '   ', '\t\n']) {
      const sel = parseLabelSelector(s);
      expect(sel.isEmpty()).toBe(true);
      expect(sel.matches({})).toBe(true);
      expect(sel.toString()).toBe('');
    }
  });

  test('labels - every operator parses to its requirement', () => {
    const cases: Array<[string, object]> = [
      ['a=b', { key: 'a', operator: '=', values: ['b'] }],
      ['a==b', { key: 'a', operator: '==', values: ['b'] }],
      ['a!=b', { key: 'a', operator: '!=', values: ['b'] }],
      ['a in (x,y)', { key: 'a', operator: 'in', values: ['x', 'y'] }],
      ['a notin (x)', { key: 'a', operator: 'notin', values: ['x'] }],
      ['a', { key: 'a', operator: 'exists', values: [] }],
      ['!a', { key: 'a', operator: '!', values: [] }],
      ['a>1', { key: 'a', operator: 'gt', values: ['1'] }],
      ['a<10', { key: 'a', operator: 'lt', values: ['10'] }],
    ];
    for (const [s, req] of cases) expect(parseLabelSelector(s).requirements()).toEqual([req]);
  });

  test('labels - whitespace is tolerated around every token', () => {
    const sel = parseLabelSelector('  a = b ,\tc  in ( x , y ) ,  ! d , e != f , g notin(h)  ');
    expect(sel.toString()).toBe('a=b,c in (x,y),!d,e!=f,g notin (h)');
  });

  test('labels - requirements are sorted by key and printed canonically', () => {
    expect(parseLabelSelector('z=1,a in (c,b,a),m').toString()).toBe('a in (a,b,c),m,z=1');
    expect(parseLabelSelector('x in (b,a,b)').requirements()[0].values).toEqual(['a', 'b']);
    expect(parseLabelSelector('b,a=1,b!=2').toString()).toBe('a=1,b,b!=2');
  });

  test('labels - toString round-trips through the parser', () => {
    for (const s of ['a=b', 'a==b', 'a!=b', 'a in (x,y)', 'a notin (x)', 'a', '!a', 'a>5', 'a<5', 'example.com/k in (,a)', 'a=']) {
      const once = parseLabelSelector(s).toString();
      expect(parseLabelSelector(once).toString()).toBe(once);
      expect(once).toBe(s);
    }
  });

  test('labels - empty values are allowed where Kubernetes allows them', () => {
    expect(parseLabelSelector('a=').requirements()[0].values).toEqual(['']);
    expect(parseLabelSelector('a=,b').requirements()[0].values).toEqual(['']);
    expect(parseLabelSelector('a in ()').requirements()[0].values).toEqual(['']);
    expect(parseLabelSelector('a in (,x)').requirements()[0].values).toEqual(['', 'x']);
    expect(parseLabelSelector('a in (x,)').requirements()[0].values).toEqual(['', 'x']);
    expect(parseLabelSelector('a in (x,,y)').requirements()[0].values).toEqual(['', 'x', 'y']);
    expect(parseLabelSelector('x in (foo,,baz),y,z notin ()').toString()).toBe('x in (,baz,foo),y,z notin ()');
  });

  test('labels - in and notin are identifiers where a value or key is expected', () => {
    expect(parseLabelSelector('in in (in,notin)').requirements()).toEqual([{ key: 'in', operator: 'in', values: ['in', 'notin'] }]);
    expect(parseLabelSelector('a=in').requirements()[0].values).toEqual(['in']);
    expect(parseLabelSelector('notin').requirements()[0]).toEqual({ key: 'notin', operator: 'exists', values: [] });
  });

  test('labels - prefixed keys parse', () => {
    expect(parseLabelSelector('app.kubernetes.io/name=web').requirements()[0].key).toBe('app.kubernetes.io/name');
  });

  test('labels - an invalid key names the key in the message', () => {
    expect(parseError('-a=b')).toBe(`unable to parse requirement: <nil>: Invalid value: "-a": ${NAME_PART_REGEX}`);
    expect(parseError('a/b/c')).toMatch(/^unable to parse requirement: <nil>: Invalid value: "a\/b\/c": a valid label key/);
  });

  test('labels - an invalid value names the value and its key', () => {
    expect(parseError('a=-b')).toBe(`unable to parse requirement: values[0][a]: Invalid value: "-b": ${VALUE_REGEX}`);
    expect(parseError('a in (ok,-b)')).toBe(`unable to parse requirement: values[0][a]: Invalid value: "-b": ${VALUE_REGEX}`);
    expect(parseError('a in (b/,c/)')).toBe(
      `unable to parse requirement: [values[0][a]: Invalid value: "b/": ${VALUE_REGEX}, values[1][a]: Invalid value: "c/": ${VALUE_REGEX}]`,
    );
  });

  test('labels - gt and lt need an integer', () => {
    expect(parseError('a>b')).toBe(
      `unable to parse requirement: values[0]: Invalid value: "b": for 'Gt', 'Lt' operators, the value must be an integer`,
    );
    expect(parseError('a<99999999999999999999')).toMatch(/the value must be an integer/);
    // As in Kubernetes, a negative number is not a valid label value.
    expect(parseError('a<-1')).toMatch(/^unable to parse requirement: values\[0\]\[a\]: Invalid value: "-1": a valid label must be/);
  });

  test('labels - syntax errors say what was found and what was expected', () => {
    expect(parseError('a b')).toBe("unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
    expect(parseError('a,')).toBe("found '', expected: identifier after ','");
    expect(parseError(',a')).toBe("found ',', expected: !, identifier, or 'end of string'");
    expect(parseError('a=b c')).toBe("found 'c', expected: ',' or 'end of string'");
    expect(parseError('!a=b')).toBe("found '=', expected: ',' or 'end of string'");
    expect(parseError('!')).toBe("unable to parse requirement: found '', expected: identifier");
    expect(parseError('a in b')).toBe("unable to parse requirement: found 'b' expected: '('");
    expect(parseError('a in (b')).toBe("unable to parse requirement: found '', expected: ',' or ')'");
    expect(parseError('a in (b c)')).toBe("unable to parse requirement: found 'c', expected: ',' or ')'");
    expect(parseError('a in (=)')).toBe("unable to parse requirement: found '=', expected: ',', ')' or identifier");
    expect(parseError('a in (,=)')).toBe("unable to parse requirement: found '=', expected: ',', or identifier");
    expect(parseError('a in (b,')).toBe("unable to parse requirement: found '', expected: ',', or identifier");
    expect(parseError('a=(')).toBe("unable to parse requirement: found '(', expected: identifier");
    expect(parseError('a==!b')).toBe("unable to parse requirement: found '!', expected: identifier");
    expect(parseError('=a')).toBe("found '=', expected: !, identifier, or 'end of string'");
    expect(parseError('a,,b')).toBe("found ',', expected: identifier after ','");
  });

  test('labels - a non-string input is rejected', () => {
    expect(() => parseLabelSelector(undefined as unknown as string)).toThrow(SelectorParseError);
  });
});

describe('labels - matching', () => {
  const labels = { app: 'web', tier: 'frontend', version: '3', empty: '' };

  test('labels - equality operators', () => {
    expect(parseLabelSelector('app=web').matches(labels)).toBe(true);
    expect(parseLabelSelector('app==web').matches(labels)).toBe(true);
    expect(parseLabelSelector('app=db').matches(labels)).toBe(false);
    expect(parseLabelSelector('missing=x').matches(labels)).toBe(false);
    expect(parseLabelSelector('app!=db').matches(labels)).toBe(true);
    expect(parseLabelSelector('app!=web').matches(labels)).toBe(false);
    expect(parseLabelSelector('missing!=x').matches(labels)).toBe(true);
    expect(parseLabelSelector('empty=').matches(labels)).toBe(true);
    expect(parseLabelSelector('missing=').matches(labels)).toBe(false);
  });

  test('labels - set operators', () => {
    expect(parseLabelSelector('tier in (frontend,backend)').matches(labels)).toBe(true);
    expect(parseLabelSelector('tier in (backend)').matches(labels)).toBe(false);
    expect(parseLabelSelector('missing in (x)').matches(labels)).toBe(false);
    expect(parseLabelSelector('tier notin (backend)').matches(labels)).toBe(true);
    expect(parseLabelSelector('tier notin (frontend)').matches(labels)).toBe(false);
    expect(parseLabelSelector('missing notin (x)').matches(labels)).toBe(true);
    expect(parseLabelSelector('empty in ()').matches(labels)).toBe(true);
  });

  test('labels - existence operators', () => {
    expect(parseLabelSelector('app').matches(labels)).toBe(true);
    expect(parseLabelSelector('missing').matches(labels)).toBe(false);
    expect(parseLabelSelector('!missing').matches(labels)).toBe(true);
    expect(parseLabelSelector('!app').matches(labels)).toBe(false);
    expect(parseLabelSelector('empty').matches(labels)).toBe(true);
  });

  test('labels - numeric comparisons', () => {
    expect(parseLabelSelector('version>2').matches(labels)).toBe(true);
    expect(parseLabelSelector('version>3').matches(labels)).toBe(false);
    expect(parseLabelSelector('version<4').matches(labels)).toBe(true);
    expect(parseLabelSelector('missing<4').matches(labels)).toBe(false);
    expect(parseLabelSelector('app>1').matches(labels)).toBe(false);
    expect(parseLabelSelector('version>02').matches(labels)).toBe(true);
    expect(parseLabelSelector('version>1').matches({ version: '-5' })).toBe(false);
    expect(parseLabelSelector('version<1').matches({ version: '-5' })).toBe(true);
  });

  test('labels - requirements are ANDed', () => {
    expect(parseLabelSelector('app=web,tier=frontend').matches(labels)).toBe(true);
    expect(parseLabelSelector('app=web,tier=backend').matches(labels)).toBe(false);
  });

  test('labels - undefined labels are an empty set', () => {
    expect(parseLabelSelector('!a').matches(undefined)).toBe(true);
    expect(parseLabelSelector('a notin (x)').matches(undefined)).toBe(true);
    expect(parseLabelSelector('a').matches(undefined)).toBe(false);
    expect(parseLabelSelector('').matches(undefined)).toBe(true);
  });

  test('labels - inherited object properties are not labels', () => {
    expect(parseLabelSelector('constructor').matches({})).toBe(false);
    expect(parseLabelSelector('!toString').matches({})).toBe(true);
  });

  test('labels - requiresExactMatch reports a single required value', () => {
    expect(parseLabelSelector('a=1,b in (2),c in (3,4),d!=5').requiresExactMatch('a')).toBe('1');
    expect(parseLabelSelector('a=1,b in (2)').requiresExactMatch('b')).toBe('2');
    expect(parseLabelSelector('c in (3,4)').requiresExactMatch('c')).toBeUndefined();
    expect(parseLabelSelector('d!=5').requiresExactMatch('d')).toBeUndefined();
    expect(parseLabelSelector('d!=5').requiresExactMatch('x')).toBeUndefined();
  });
});

describe('labels - metav1.LabelSelector', () => {
  test('labels - undefined and null select nothing, an empty object selects everything', () => {
    for (const sel of [labelSelectorFromMeta(undefined), labelSelectorFromMeta(null)]) {
      expect(sel).toBe(LabelSelector.nothing());
      expect(sel.matches({})).toBe(false);
      expect(sel.matches({ a: 'b' })).toBe(false);
      expect(sel.matchesNothing()).toBe(true);
      expect(sel.isEmpty()).toBe(false);
      expect(sel.toString()).toBe('');
    }
    for (const raw of [{}, { matchLabels: {} }, { matchExpressions: [] }, { matchLabels: null, matchExpressions: null }]) {
      const sel = labelSelectorFromMeta(raw);
      expect(sel).toBe(LabelSelector.everything());
      expect(sel.matches({})).toBe(true);
      expect(sel.matches({ a: 'b' })).toBe(true);
      expect(sel.isEmpty()).toBe(true);
      expect(sel.matchesNothing()).toBe(false);
    }
  });

  test('labels - matchLabels and matchExpressions combine', () => {
    const sel = labelSelectorFromMeta({
      matchLabels: { tier: 'frontend', app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'canary'] },
        { key: 'legacy', operator: 'DoesNotExist' },
        { key: 'team', operator: 'Exists', values: [] },
        { key: 'zone', operator: 'NotIn', values: ['b'] },
      ],
    });
    expect(sel.toString()).toBe('app=web,env in (canary,prod),!legacy,team,tier=frontend,zone notin (b)');
    expect(sel.matches({ app: 'web', tier: 'frontend', env: 'prod', team: 'x' })).toBe(true);
    expect(sel.matches({ app: 'web', tier: 'frontend', env: 'prod', team: 'x', zone: 'b' })).toBe(false);
    expect(sel.matches({ app: 'web', tier: 'frontend', env: 'prod', team: 'x', legacy: '' })).toBe(false);
    expect(sel.matches({ app: 'web', tier: 'frontend', env: 'dev', team: 'x' })).toBe(false);
    expect(sel.matches({ app: 'web', env: 'prod', team: 'x' })).toBe(false);
  });

  test('labels - in values keep their written order in requirements but print sorted', () => {
    const sel = labelSelectorFromMeta({ matchExpressions: [{ key: 'a', operator: 'In', values: ['z', 'b'] }] });
    expect(sel.requirements()[0].values).toEqual(['z', 'b']);
    expect(sel.toString()).toBe('a in (b,z)');
  });

  function metaError(raw: Parameters<typeof labelSelectorFromMeta>[0]): string {
    try {
      labelSelectorFromMeta(raw);
    } catch (err) {
      expect(err).toBeInstanceOf(SelectorParseError);
      return (err as Error).message;
    }
    throw new Error('expected an error');
  }

  test('labels - operators are case-sensitive and unknown ones are rejected', () => {
    expect(metaError({ matchExpressions: [{ key: 'a', operator: 'in', values: ['x'] }] })).toBe('"in" is not a valid pod selector operator');
    expect(metaError({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] })).toBe('"Gt" is not a valid pod selector operator');
    expect(metaError({ matchExpressions: [{ key: 'a' }] })).toBe('"" is not a valid pod selector operator');
  });

  test('labels - In and NotIn need values', () => {
    expect(metaError({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })).toBe(
      "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
    );
    expect(metaError({ matchExpressions: [{ key: 'a', operator: 'NotIn' }] })).toBe(
      "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
    );
  });

  test('labels - Exists and DoesNotExist take no values', () => {
    expect(metaError({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x', 'y'] }] })).toBe(
      'values: Invalid value: []string{"x", "y"}: values set must be empty for exists and does not exist',
    );
    expect(metaError({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: ['x'] }] })).toMatch(
      /values set must be empty for exists and does not exist/,
    );
  });

  test('labels - invalid keys and values are rejected', () => {
    expect(metaError({ matchLabels: { 'a b': 'x' } })).toBe(`key: Invalid value: "a b": ${NAME_PART_REGEX}`);
    expect(metaError({ matchLabels: { a: 'x y' } })).toBe(`values[0][a]: Invalid value: "x y": ${VALUE_REGEX}`);
    expect(metaError({ matchExpressions: [{ operator: 'Exists' }] })).toBe(
      `key: Invalid value: "": name part must be non-empty; ${NAME_PART_REGEX}`,
    );
    expect(metaError({ matchLabels: { a: 5 as unknown as string } })).toMatch(/must be a string/);
  });

  test('labels - a set selector matches exactly its labels', () => {
    const sel = labelSelectorFromSet({ b: '2', a: '1' });
    expect(sel.toString()).toBe('a=1,b=2');
    expect(sel.matches({ a: '1', b: '2', c: '3' })).toBe(true);
    expect(sel.matches({ a: '1' })).toBe(false);
    expect(labelSelectorFromSet({}).isEmpty()).toBe(true);
    expect(labelSelectorFromSet(undefined).matches({})).toBe(true);
  });

  test('labels - selectors and their requirements are immutable', () => {
    const sel = parseLabelSelector('a in (x,y)');
    const reqs = sel.requirements() as unknown as Array<{ values: string[] }>;
    expect(() => reqs.push({ values: [] })).toThrow();
    expect(() => reqs[0].values.push('z')).toThrow();
    expect(sel.toString()).toBe('a in (x,y)');
  });
});
