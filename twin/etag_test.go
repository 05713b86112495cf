package twin

import (
	"encoding/base64"
	"encoding/binary"
	"testing"
)

// refEtag is makeEtag through encoding/base64.
func refEtag(gen uint64, version int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], gen<<48|uint64(version)&(1<<48-1))
	return base64.StdEncoding.EncodeToString(b[:])
}

// refGeneration is etagGeneration through encoding/base64 alone.
func refGeneration(etag string) uint64 {
	var b [9]byte
	if len(etag) != 12 {
		return 0
	}
	n, err := base64.StdEncoding.Decode(b[:], []byte(etag))
	if err != nil || n != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b[:8]) >> 48
}

func TestEtag(t *testing.T) {
	cases := map[string]struct {
		gen     uint64
		version int64
	}{
		"first":           {0, 1},
		"azure example":   {0, 7},
		"generation":      {0xbeef, 42},
		"all ones":        {0xffff, 1<<48 - 1},
		"version too big": {3, 1<<48 + 5},
		"negative":        {1, -1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, want := makeEtag(c.gen, c.version), refEtag(c.gen, c.version)
			if got != want {
				t.Fatalf("makeEtag = %q, base64 gives %q", got, want)
			}
			if g := etagGeneration(got); g != c.gen {
				t.Fatalf("etagGeneration(%q) = %#x, want %#x", got, g, c.gen)
			}
		})
	}
}

// FuzzEtagGeneration: any string gives the generation encoding/base64 reads from it.
func FuzzEtagGeneration(f *testing.F) {
	for _, s := range []string{"AAAAAAAAAAc=", "AAAAAAAAAAAA", "!!!!!!!!!!!!", "//////////8=", "AAAAAAAAAA==", "AAAA\nAAAAAA=", "AAAAAAAAAAd="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, etag string) {
		if got, want := etagGeneration(etag), refGeneration(etag); got != want {
			t.Fatalf("etagGeneration(%q) = %#x, base64 reads %#x", etag, got, want)
		}
	})
}
