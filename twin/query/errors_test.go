package query

import (
	"errors"
	"strings"
	"testing"
)

func TestSyntaxErrors(t *testing.T) {
	cases := map[string]struct {
		q   string
		col int
		msg string
	}{
		"value missing before AND":   {`SELECT * FROM devices WHERE tags.x = AND tags.y = 1`, 38, `expected a value after '=', found 'AND'`},
		"brief example col 27":       {`SELECT * FROM devices WHERE a = 1`, 29, `unknown property a`},
		"empty":                      {``, 1, `expected SELECT at the start of the query, found end of query`},
		"not a query":                {`DELETE FROM devices`, 1, `expected SELECT at the start of the query, found 'DELETE'`},
		"missing FROM":               {`SELECT * devices`, 10, `expected FROM after the select list, found 'devices'`},
		"missing select list":        {`SELECT FROM devices`, 8, `expected * or a list of properties after 'SELECT', found 'FROM'`},
		"wrong collection":           {`SELECT * FROM twins`, 15, `expected devices after FROM, found 'twins'`},
		"modules refused":            {`SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning'`, 15, `devices.modules is not supported`},
		"jobs refused":               {`SELECT * FROM devices.jobs`, 15, `devices.jobs is not supported`},
		"trailing garbage":           {`SELECT * FROM devices WHERE tags.a = 1 tags.b = 2`, 40, `expected AND, OR, GROUP BY or the end of the query, found 'tags'`},
		"trailing after FROM":        {`SELECT * FROM devices tags.a = 1`, 23, `expected WHERE, GROUP BY or the end of the query, found 'tags'`},
		"where without condition":    {`SELECT * FROM devices WHERE`, 28, `expected a value after 'WHERE', found end of query`},
		"unclosed paren":             {`SELECT * FROM devices WHERE (tags.a = 1`, 40, `expected ')' to close the '(' at col 29, found end of query`},
		"unclosed string":            {`SELECT * FROM devices WHERE tags.a = 'eu`, 38, `string starting here is not closed; end it with '`},
		"bad escape":                 {`SELECT * FROM devices WHERE tags.a = 'e\qu'`, 40, `unknown escape \q`},
		"bad unicode escape":         {`SELECT * FROM devices WHERE tags.a = '\u12'`, 39, `expected 4 hexadecimal digits after \u`},
		"bad character":              {`SELECT * FROM devices WHERE tags.a == 1 ; drop`, 37, `expected a value after '=', found '='`},
		"semicolon":                  {`SELECT * FROM devices;`, 22, `unexpected character ';'`},
		"unquoted string":            {`SELECT * FROM devices WHERE tags.ring = canary`, 41, `unknown property canary; to compare with text, quote it: 'canary'`},
		"unquoted in list":           {`SELECT * FROM devices WHERE tags.ring IN ['a', canary]`, 48, `unknown property canary; to compare with text, quote it`},
		"path in list":               {`SELECT * FROM devices WHERE tags.ring IN ['a', deviceId]`, 48, `the list after IN may hold only constants`},
		"double equals":              {`SELECT * FROM devices WHERE tags.ring == 'canary'`, 40, `found '='; compare with a single =`},
		"C and":                      {`SELECT * FROM devices WHERE tags.a = 1 && tags.b = 2`, 40, `'&&' is not an operator; use AND`},
		"C or":                       {`SELECT * FROM devices WHERE tags.a = 1 || tags.b = 2`, 40, `'||' is not an operator; use OR`},
		"C not":                      {`SELECT * FROM devices WHERE !IS_DEFINED(tags.a)`, 29, `'!' is not an operator; use NOT`},
		"unquoted version":           {`SELECT * FROM devices WHERE properties.reported.fw = 2.1.0`, 54, `2.1.0 is not a number; to compare with text such as a version, quote it: '2.1.0'`},
		"unquoted dashed":            {`SELECT * FROM devices WHERE deviceId = pump-7`, 40, `unknown property pump-7; to compare with text, quote it: 'pump-7'`},
		"LIKE":                       {`SELECT * FROM devices WHERE tags.ring LIKE 'c%'`, 39, `LIKE is not supported: use STARTSWITH`},
		"ORDER BY":                   {`SELECT * FROM devices ORDER BY deviceId`, 23, `ORDER BY is not supported: rows come ordered by deviceId`},
		"LIMIT":                      {`SELECT * FROM devices LIMIT 5`, 23, `LIMIT is not supported: use SELECT TOP n`},
		"IS NULL":                    {`SELECT * FROM devices WHERE tags.a IS NULL`, 36, `for IS NULL use IS_NULL(x)`},
		"unknown property":           {`SELECT * FROM devices WHERE tag.region = 'eu'`, 29, `unknown property tag; paths start with deviceId, tags`},
		"properties without section": {`SELECT * FROM devices WHERE properties.reportd.x = 1`, 29, `unknown property properties.reportd.x: after properties comes desired or reported`},
		"unknown function":           {`SELECT * FROM devices WHERE LOWER(deviceId) = 'a'`, 29, `unknown function LOWER; known functions: IS_DEFINED`},
		"wrong arity":                {`SELECT * FROM devices WHERE STARTSWITH(deviceId)`, 29, `STARTSWITH takes 2 argument(s), found 1: STARTSWITH(property, 'text')`},
		"IN without list":            {`SELECT * FROM devices WHERE tags.a IN 'x'`, 39, `expected '[' after 'IN', found string "x"`},
		"IN with property":           {`SELECT * FROM devices WHERE tags.a IN [tags.b]`, 40, `the list after IN may hold only constants`},
		"IN unclosed":                {`SELECT * FROM devices WHERE tags.a IN ['x' 'y']`, 44, `expected ',' or ']' in the list, found string "y"`},
		"chained comparison":         {`SELECT * FROM devices WHERE 1 < version < 3`, 41, `comparisons cannot be chained`},
		"TOP not a number":           {`SELECT TOP x * FROM devices`, 12, `expected a whole number after TOP, found 'x'`},
		"TOP fraction":               {`SELECT TOP 1.5 * FROM devices`, 12, `expected a whole number after TOP, found '1.5'`},
		"aggregate in where":         {`SELECT * FROM devices WHERE COUNT() > 1`, 29, `COUNT() is an aggregate: use it as a whole select item`},
		"SUM without argument":       {`SELECT SUM() AS s FROM devices`, 12, `expected a property inside SUM()`},
		"GROUP without BY":           {`SELECT COUNT() AS n FROM devices GROUP tags.a`, 40, `expected BY after GROUP, found 'tags'`},
		"star with GROUP BY":         {`SELECT * FROM devices GROUP BY tags.a`, 32, `GROUP BY needs a select list`},
		"ungrouped item":             {`SELECT deviceId, COUNT() AS n FROM devices GROUP BY tags.a`, 8, `deviceId is neither in GROUP BY nor inside an aggregate`},
		"aggregate with plain item":  {`SELECT deviceId, COUNT() AS n FROM devices`, 8, `deviceId is not an aggregate`},
		"duplicate names":            {`SELECT tags.region, properties.reported.region FROM devices`, 21, `two columns are named "region"; rename one with AS`},
		"AS without name":            {`SELECT deviceId AS 'x' FROM devices`, 20, `expected a name after AS, found string "x"`},
		"dot without name":           {`SELECT * FROM devices WHERE tags.'a' = 1`, 34, `expected a property name after '.', found string "a"`},
		"bad bracket":                {`SELECT * FROM devices WHERE tags[a] = 1`, 34, `expected a 'name' or an array index inside [ ], found 'a'`},
		"hex without digits":         {`SELECT * FROM devices WHERE version = 0x`, 41, `expected hexadecimal digits after '0x'`},
		"number glued to name":       {`SELECT * FROM devices WHERE version = 12ab`, 41, `unexpected 'a' after number 12`},
		"multi-line":                 {"SELECT *\nFROM devices\nWHERE tags.a = = 1", 16, `expected a value after '=', found '='`},
		"unicode before error":       {`SELECT * FROM devices WHERE tags.a = 'é' AND`, 45, `expected a value after 'AND', found end of query`},
		"too long":                   {`SELECT * FROM devices WHERE tags.a = '` + strings.Repeat("x", 8200) + `'`, 8240, `query is 8239 characters long; the limit is 8192`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(c.q)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want a *SyntaxError", c.q, err)
			}
			_, col := se.LineCol()
			if col != c.col || !strings.Contains(se.Msg, c.msg) {
				t.Errorf("Parse(%q):\n got col %d: %s\nwant col %d: ...%s...", c.q, col, se.Msg, c.col, c.msg)
			}
		})
	}
}

func TestParseWhereErrors(t *testing.T) {
	cases := map[string]struct {
		q   string
		pos int
		msg string
	}{
		"dangling AND":   {`tags.a = 1 AND`, 15, `expected a value after 'AND', found end of query`},
		"garbage after":  {`tags.a = 1 2`, 12, `expected AND, OR or the end of the condition, found '2'`},
		"only WHERE":     {`WHERE`, 6, `expected a value after 'WHERE', found end of query`},
		"bad full query": {`SELECT * FROM devices WHERE`, 28, `expected a value after 'WHERE'`},
		"unknown":        {`region = 'eu'`, 1, `unknown property region`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWhere(c.q)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseWhere(%q) = %v, want a *SyntaxError", c.q, err)
			}
			if se.Pos != c.pos || !strings.Contains(se.Msg, c.msg) {
				t.Errorf("ParseWhere(%q):\n got pos %d: %s\nwant pos %d: ...%s...", c.q, se.Pos, se.Msg, c.pos, c.msg)
			}
		})
	}
}

func TestSyntaxErrorRendering(t *testing.T) {
	cases := map[string]struct {
		q, err, caret string
	}{
		"one line": {
			`SELECT * FROM devices WHERE tags.x = AND tags.y = 1`,
			`col 38: expected a value after '=', found 'AND'`,
			"SELECT * FROM devices WHERE tags.x = AND tags.y = 1\n                                     ^",
		},
		"multi line": {
			"SELECT *\nFROM devices\n\tWHERE tags.x = AND",
			`line 3 col 17: expected a value after '=', found 'AND'`,
			"\tWHERE tags.x = AND\n\t               ^",
		},
		"at the end": {
			`SELECT * FROM devices WHERE`,
			`col 28: expected a value after 'WHERE', found end of query`,
			"SELECT * FROM devices WHERE\n                           ^",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(c.q)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("not a SyntaxError: %v", err)
			}
			if se.Error() != c.err {
				t.Errorf("Error() = %q, want %q", se.Error(), c.err)
			}
			if se.Caret() != c.caret {
				t.Errorf("Caret() =\n%s\nwant\n%s", se.Caret(), c.caret)
			}
		})
	}
}

// TestCanonicalString pins the canonical form of conditions, which GROUP BY matching and
// the fuzz round trip rely on.
func TestCanonicalString(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"precedence":      {`tags.a = 1 OR NOT tags.x < 2 AND tags.y != 'z'`, `((tags.a = 1) OR ((NOT (tags.x < 2)) AND (tags.y != "z")))`},
		"canonical names": {`DEVICEID = "d1" and TAGS.ring <> 'x'`, `((deviceId = "d1") AND (tags.ring != "x"))`},
		"brackets":        {`tags['a b'][2].c = -1.5e3`, `(tags["a b"][2].c = -1500)`},
		"escapes":         {`tags.x = 'q"\\\u0001'`, `(tags.x = "q\"\\\u0001")`},
		"in and call":     {`tags.x NOT IN [1, 'a', null, true] OR STARTS_WITH(deviceId, 'd')`, `((tags.x NIN [1, "a", null, true]) OR STARTSWITH(deviceId, "d"))`},
		"arithmetic":      {`-(version + 2) * 3 % 4 / 5 - +version >= 0x10`, `((((((-(version + 2)) * 3) % 4) / 5) - (+version)) >= 16)`},
		"unary plus path": {`+version = 1`, `((+version) = 1)`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, err := ParseWhere(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.st.where.String(); got != c.want {
				t.Errorf("String() = %s\n         want %s", got, c.want)
			}
		})
	}
}
