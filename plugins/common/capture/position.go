package capture

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// position is what the engine stores in checkpoints. Polling keeps a
// cursor per table; changelog strategies keep the number of the last
// emitted batch, which CheckpointDurable maps back to sequence numbers.
type position struct {
	Strategy Strategy            `json:"strategy"`
	Cursors  map[string][]string `json:"cursors,omitempty"`
	Batch    uint64              `json:"batch,omitempty"`
	// commit_order: rows with versions in [Low, High) are being read, the
	// tables before Table are done and Cursors holds the cursor inside
	// tables[Table]. High == 0: between rounds, everything below Low read.
	Low   uint64 `json:"low,omitempty"`
	High  uint64 `json:"high,omitempty"`
	Table int    `json:"table,omitempty"`
}

func decodePosition(p sdk.Position) (position, error) {
	var pos position
	if len(p) == 0 {
		return pos, nil
	}
	if err := json.Unmarshal(p, &pos); err != nil {
		return pos, fmt.Errorf("checkpointed position is not valid: %w", err)
	}
	return pos, nil
}

func (p position) encode() sdk.Position {
	b, _ := json.Marshal(p)
	return b
}

// encodeValue writes a typed cursor value, so that it binds back to the
// driver with the same type (a timestamp must stay a timestamp to compare
// in SQL).
func encodeValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "n:", nil
	case int64:
		return "i:" + strconv.FormatInt(x, 10), nil
	case float64:
		return "f:" + strconv.FormatFloat(x, 'g', -1, 64), nil
	case string:
		return "s:" + x, nil
	case bool:
		return "b:" + strconv.FormatBool(x), nil
	case []byte:
		return "x:" + base64.StdEncoding.EncodeToString(x), nil
	case time.Time:
		return "t:" + x.Format(time.RFC3339Nano), nil
	}
	return "", fmt.Errorf("cursor value of type %T cannot be stored", v)
}

func decodeValue(s string) (any, error) {
	if len(s) < 2 || s[1] != ':' {
		return nil, fmt.Errorf("bad cursor value %q", s)
	}
	body := s[2:]
	switch s[0] {
	case 'n':
		return nil, nil
	case 'i':
		return strconv.ParseInt(body, 10, 64)
	case 'f':
		return strconv.ParseFloat(body, 64)
	case 's':
		return body, nil
	case 'b':
		return strconv.ParseBool(body)
	case 'x':
		return base64.StdEncoding.DecodeString(body)
	case 't':
		return time.Parse(time.RFC3339Nano, body)
	}
	return nil, fmt.Errorf("bad cursor value %q", s)
}
