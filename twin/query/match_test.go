package query

import (
	"slices"
	"testing"

	"github.com/twinops/twinops/twin"
)

// matchCases are the WHERE conditions of TestMatch with the fixture twins they select.
// TestTableMatchesRun runs them over random twins too.
var matchCases = map[string]struct {
	q    string
	want []string
}{
	// The facts sheet's example queries (section 3.5).
	"facts: canary not on 2.1.0": {`SELECT * FROM devices WHERE tags.ring = 'canary' AND properties.reported.firmware.version != '2.1.0'`, []string{"d1"}},
	"facts: is_defined firmware": {`SELECT COUNT() AS total FROM devices WHERE is_defined(properties.reported.firmware)`, []string{"d1", "d2", "d3"}},
	"facts: connectivity IN":     {`SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired','wifi']`, []string{"d1", "d2"}},
	"facts: rollout where":       {`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`, []string{"d1", "d2", "d3"}},

	"no where":                    {`SELECT * FROM devices`, []string{"d1", "d2", "d3", "d4", "d5"}},
	"keywords any case":           {`select * from DEVICES where TAGS.region = 'eu' and Tags.ring = "broad"`, []string{"d3", "d4"}},
	"deviceId":                    {`SELECT * FROM devices WHERE deviceId = 'd2'`, []string{"d2"}},
	"DeviceId case-insensitive":   {`SELECT * FROM devices WHERE DEVICEID = 'd2'`, []string{"d2"}},
	"identity status":             {`SELECT * FROM devices WHERE status = 'disabled'`, []string{"d3"}},
	"connectionState":             {`SELECT * FROM devices WHERE connectionState = 'Connected'`, []string{"d1", "d2"}},
	"not equal <>":                {`SELECT * FROM devices WHERE tags.region <> 'eu'`, []string{"d2"}},
	"missing is undefined":        {`SELECT * FROM devices WHERE properties.reported.firmware.version != '9'`, []string{"d1", "d2", "d3"}},
	"OR":                          {`SELECT * FROM devices WHERE tags.region = 'us' OR properties.reported.battery < 20`, []string{"d2", "d3"}},
	"NOT":                         {`SELECT * FROM devices WHERE NOT tags.region = 'eu'`, []string{"d2"}},
	"NOT undefined fails":         {`SELECT * FROM devices WHERE NOT tags.model = 'm1'`, []string{"d2"}},
	"parentheses":                 {`SELECT * FROM devices WHERE (tags.region = 'us' OR tags.ring = 'broad') AND properties.reported.battery > 20`, []string{"d2", "d4"}},
	"precedence AND over OR":      {`SELECT * FROM devices WHERE tags.region = 'us' OR tags.ring = 'broad' AND properties.reported.battery > 20`, []string{"d2", "d4"}},
	"<= and >=":                   {`SELECT * FROM devices WHERE properties.reported.battery >= 40 AND properties.reported.battery <= 55.5`, []string{"d2", "d4"}},
	"arithmetic":                  {`SELECT * FROM devices WHERE properties.reported.battery * 2 + 1 > 100`, []string{"d1", "d4"}},
	"modulo":                      {`SELECT * FROM devices WHERE properties.reported.battery % 20 = 0`, []string{"d1", "d2"}},
	"unary minus":                 {`SELECT * FROM devices WHERE -properties.reported.battery < -50`, []string{"d1", "d4"}},
	"division by zero":            {`SELECT * FROM devices WHERE properties.reported.battery / 0 > 0 OR properties.reported.battery / 0 <= 0`, nil},
	"hex number":                  {`SELECT * FROM devices WHERE properties.reported.battery = 0x50`, []string{"d1"}},
	"exponent":                    {`SELECT * FROM devices WHERE properties.reported.battery = 4e1`, []string{"d2"}},
	"NIN":                         {`SELECT * FROM devices WHERE properties.reported.firmware.status NIN ['succeeded']`, []string{"d1"}},
	"NOT IN":                      {`SELECT * FROM devices WHERE tags.region NOT IN ['eu']`, []string{"d2"}},
	"IN numbers":                  {`SELECT * FROM devices WHERE properties.reported.battery IN [10, 40, 7]`, []string{"d2", "d3"}},
	"IN mixed kinds":              {`SELECT * FROM devices WHERE properties.reported.battery IN ['80', 80]`, []string{"d1"}},
	"IS_DEFINED null":             {`SELECT * FROM devices WHERE IS_DEFINED(properties.reported.note)`, []string{"d4"}},
	"IS_NULL":                     {`SELECT * FROM devices WHERE IS_NULL(properties.reported.note)`, []string{"d4"}},
	"= null":                      {`SELECT * FROM devices WHERE properties.reported.note = null`, []string{"d4"}},
	"not IS_DEFINED":              {`SELECT * FROM devices WHERE NOT IS_DEFINED(tags.region)`, []string{"d5"}},
	"IS_NUMBER":                   {`SELECT * FROM devices WHERE IS_NUMBER(properties.reported.battery)`, []string{"d1", "d2", "d3", "d4"}},
	"IS_STRING":                   {`SELECT * FROM devices WHERE is_string(tags.model)`, []string{"d1", "d2", "d3"}},
	"IS_OBJECT":                   {`SELECT * FROM devices WHERE IS_OBJECT(properties.reported.firmware)`, []string{"d1", "d2", "d3"}},
	"IS_ARRAY and index":          {`SELECT * FROM devices WHERE IS_ARRAY(properties.reported.ips) AND properties.reported.ips[1] = 'fe80::4'`, []string{"d4"}},
	"IS_BOOL":                     {`SELECT * FROM devices WHERE IS_BOOL(tags.region = 'eu')`, []string{"d1", "d2", "d3", "d4"}},
	"STARTSWITH":                  {`SELECT * FROM devices WHERE STARTSWITH(properties.reported.connectivity, 'wi')`, []string{"d1", "d2"}},
	"ENDSWITH":                    {`SELECT * FROM devices WHERE endswith(deviceId, '3')`, []string{"d3"}},
	"STARTS_WITH spelling":        {`SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'd1')`, []string{"d1"}},
	"CONTAINS":                    {`SELECT * FROM devices WHERE CONTAINS(properties.reported.connectivity, 'ell')`, []string{"d3"}},
	"bracket member":              {`SELECT * FROM devices WHERE tags['region'] = 'us'`, []string{"d2"}},
	"string escapes":              {`SELECT * FROM devices WHERE 'it\'s' = "it's" AND "\u0064\\" = 'd\\' AND deviceId = "d\u0031"`, []string{"d1"}},
	"compare kinds is undef":      {`SELECT * FROM devices WHERE properties.reported.battery = '80' OR properties.reported.battery != '80'`, nil},
	"compare object is undef":     {`SELECT * FROM devices WHERE properties.reported.firmware = properties.reported.firmware`, nil},
	"booleans":                    {`SELECT * FROM devices WHERE (tags.region = 'eu') = true AND true`, []string{"d1", "d3", "d4"}},
	"bool order":                  {`SELECT * FROM devices WHERE false < true AND deviceId = 'd5'`, []string{"d5"}},
	"undefined literal":           {`SELECT * FROM devices WHERE tags.region = undefined OR IS_DEFINED(undefined)`, nil},
	"version":                     {`SELECT * FROM devices WHERE version >= 4`, []string{"d1", "d2", "d3", "d4"}},
	"section $version":            {`SELECT * FROM devices WHERE properties.reported.$version = 2`, []string{"d1", "d2", "d3", "d4"}},
	"lastActivityTime vs string":  {`SELECT * FROM devices WHERE lastActivityTime > '2026-11-26T00:00:00Z'`, []string{"d1", "d2"}},
	"lastActivityTime other form": {`SELECT * FROM devices WHERE LastActivityTime >= '2026-11-27T09:00:00.0000000Z'`, []string{"d1"}},
	"time equals other form":      {`SELECT * FROM devices WHERE lastActivityTime = '2026-11-27T09:00:00.0000000Z'`, []string{"d1"}},
	"time never set, Azure form":  {`SELECT * FROM devices WHERE statusUpdateTime = '0001-01-01T00:00:00' AND deviceId IN ['d1', 'd5']`, []string{"d1", "d5"}},
	"time IN strings":             {`SELECT * FROM devices WHERE lastActivityTime IN ['2026-11-27T08:00:00Z', 'x']`, []string{"d2"}},
	"time vs non-time text":       {`SELECT * FROM devices WHERE lastActivityTime > 'zzz' OR lastActivityTime < '0'`, nil},
	"time STARTSWITH":             {`SELECT * FROM devices WHERE STARTSWITH(lastActivityTime, '2026-11-25')`, []string{"d3"}},
	"metadata lastUpdated":        {`SELECT * FROM devices WHERE properties.desired.$metadata.firmware.version.$lastUpdated < '2026-11-27T08:00:00Z'`, []string{"d1", "d2", "d3", "d4"}},
	"metadata lastUpdatedVersion": {`SELECT * FROM devices WHERE properties.desired.$metadata.firmware.$lastUpdatedVersion = 2`, []string{"d1", "d2", "d3", "d4"}},
	"x509 null":                   {`SELECT * FROM devices WHERE x509Thumbprint.primaryThumbprint = null AND deviceId = 'd1'`, []string{"d1"}},
	"arrays do not compare":       {`SELECT * FROM devices WHERE properties.reported.ips = ['10.0.0.4', 'fe80::4']`, nil},
	"leading-dot number":          {`SELECT * FROM devices WHERE properties.reported.mixed = 3 AND .5 < 1`, []string{"d2"}},
	"unary plus on text":          {`SELECT * FROM devices WHERE IS_DEFINED(+tags.region) OR IS_DEFINED(-tags.region)`, nil},
	"unicode names":               {`SELECT * FROM devices WHERE tags.région = 'x' OR tags['日本'] = 1`, nil},
	"keyword as member":           {`SELECT * FROM devices WHERE IS_DEFINED(tags.group) OR tags.select = 1`, nil},
	"moduleId undefined":          {`SELECT * FROM devices WHERE IS_DEFINED(moduleId)`, nil},
}

func TestMatch(t *testing.T) {
	docs := fleet(t)
	for name, c := range matchCases {
		t.Run(name, func(t *testing.T) {
			q, err := Parse(c.q)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.q, err)
			}
			if got := ids(q, docs); !slices.Equal(got, c.want) {
				t.Errorf("%s\nmatched %v, want %v", c.q, got, c.want)
			}
		})
	}
}

func TestParseWhere(t *testing.T) {
	docs := fleet(t)
	cases := map[string]struct {
		q    string
		want []string
	}{
		"bare condition":     {`tags.region = 'us'`, []string{"d2"}},
		"leading WHERE":      {`where tags.region = 'us'`, []string{"d2"}},
		"full query":         {`SELECT * FROM devices WHERE tags.ring = 'broad'`, []string{"d3", "d4"}},
		"full query lower":   {`  select * from devices where deviceId = 'd1'`, []string{"d1"}},
		"empty selects all":  {`   `, []string{"d1", "d2", "d3", "d4", "d5"}},
		"function condition": {`is_defined(properties.reported.ips)`, []string{"d4"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, err := ParseWhere(c.q)
			if err != nil {
				t.Fatalf("ParseWhere(%q): %v", c.q, err)
			}
			if got := ids(q, docs); !slices.Equal(got, c.want) {
				t.Errorf("%s\nmatched %v, want %v", c.q, got, c.want)
			}
		})
	}
}

func TestUnicodeNames(t *testing.T) {
	d := twin.New("ü-1", t0)
	if err := d.Patch(twin.Tags, map[string]any{"région": "nord", "日本": 1.0}, t0); err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		`tags.région = 'nord'`:             true,
		`tags.日本 = 1 AND deviceId = 'ü-1'`: true,
		`tags['région'] = "nord"`:          true,
		`tags.région = 'sud'`:              false,
	}
	for src, want := range cases {
		t.Run(src, func(t *testing.T) {
			q, err := ParseWhere(src)
			if err != nil {
				t.Fatal(err)
			}
			if q.Match(d) != want {
				t.Errorf("Match = %v, want %v", !want, want)
			}
			if again, err := ParseWhere(q.st.where.String()); err != nil || again.Match(d) != want {
				t.Errorf("canonical %s does not round-trip: %v", q.st.where, err)
			}
		})
	}
}
