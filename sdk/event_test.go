package sdk

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestTagsStaySorted(t *testing.T) {
	var e Event
	for _, k := range []string{"m", "a", "z", "c", "a"} {
		e.SetTag(k, k+"1")
	}
	want := []Tag{{"a", "a1"}, {"c", "c1"}, {"m", "m1"}, {"z", "z1"}}
	if !reflect.DeepEqual(e.Tags, want) {
		t.Fatalf("tags %v, want %v", e.Tags, want)
	}
	e.SetTag("c", "new")
	if v, ok := e.Tag("c"); !ok || v != "new" {
		t.Fatalf("Tag(c) = %q, %v", v, ok)
	}
	if _, ok := e.Tag("b"); ok {
		t.Fatal("Tag(b) found a missing tag")
	}
	if !e.RemoveTag("m") || e.RemoveTag("m") {
		t.Fatal("RemoveTag")
	}
	if len(e.Tags) != 3 {
		t.Fatalf("tags after remove: %v", e.Tags)
	}
}

func TestFieldsKeepOrder(t *testing.T) {
	var e Event
	e.SetField("b", int64(1))
	e.SetField("a", "x")
	e.SetField("b", int64(2))
	want := []Field{{"b", int64(2)}, {"a", "x"}}
	if !reflect.DeepEqual(e.Fields, want) {
		t.Fatalf("fields %v", e.Fields)
	}
	if v, ok := e.Field("a"); !ok || v != "x" {
		t.Fatal("Field(a)")
	}
	if !e.RemoveField("b") || e.RemoveField("b") || len(e.Fields) != 1 {
		t.Fatal("RemoveField")
	}
}

func TestCloneIsDeep(t *testing.T) {
	e := Event{Name: "t", Tags: []Tag{{"k", "v"}}, Fields: []Field{{"b", []byte("ab")}}}
	c := e.Clone()
	c.Tags[0].Value = "changed"
	c.Fields[0].Value.([]byte)[0] = 'X'
	if e.Tags[0].Value != "v" || string(e.Fields[0].Value.([]byte)) != "ab" {
		t.Fatal("clone shares memory with the original")
	}
}

func TestSortTagsIsStable(t *testing.T) {
	tags := []Tag{{"b", "1"}, {"a", "1"}, {"b", "2"}}
	SortTags(tags)
	if !reflect.DeepEqual(tags, []Tag{{"a", "1"}, {"b", "1"}, {"b", "2"}}) {
		t.Fatalf("%v", tags)
	}
}

func TestOps(t *testing.T) {
	for _, op := range []Op{OpNone, OpInsert, OpUpdate, OpDelete, OpUpsert} {
		got, err := ParseOp(op.String())
		if err != nil || got != op {
			t.Errorf("round trip of %v: %v, %v", op, got, err)
		}
	}
	if _, err := ParseOp("merge"); err == nil || err.Error() != `unknown op "merge" (want insert, update, delete, upsert or empty)` {
		t.Errorf("ParseOp(merge): %v", err)
	}
	if Op(9).String() != "op(9)" {
		t.Error(Op(9).String())
	}
}

func TestNormalizeValue(t *testing.T) {
	now := time.Now()
	cases := []struct {
		in   any
		want any
		err  bool
	}{
		{int(3), int64(3), false},
		{int8(-3), int64(-3), false},
		{uint32(7), int64(7), false},
		{uint64(math.MaxInt64), int64(math.MaxInt64), false},
		{uint64(math.MaxUint64), nil, true},
		{float32(1.5), 1.5, false},
		{"s", "s", false},
		{[]byte("b"), []byte("b"), false},
		{now, now, false},
		{nil, nil, false},
		{true, true, false},
		{struct{}{}, nil, true},
	}
	for _, tc := range cases {
		got, err := NormalizeValue(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("NormalizeValue(%#v) = %#v, %v", tc.in, got, err)
		}
	}
}

func TestDuration(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || time.Duration(d) != 90*time.Second {
		t.Fatalf("%v %v", d, err)
	}
	err := d.UnmarshalText([]byte("10x"))
	if err == nil || err.Error() != `invalid duration "10x" (examples: "500ms", "10s", "1m")` {
		t.Fatalf("%v", err)
	}
	if b, _ := Duration(1500 * time.Millisecond).MarshalText(); string(b) != "1.5s" {
		t.Fatalf("%s", b)
	}
}

func TestCounter(t *testing.T) {
	var c Counter
	c.Add(2)
	c.Inc()
	if c.Load() != 3 {
		t.Fatal(c.Load())
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !Sleep(ctx, time.Millisecond) || !Sleep(ctx, 0) {
		t.Fatal("Sleep on a live context did not go on")
	}
	cancel()
	if Sleep(ctx, time.Hour) || Sleep(ctx, 0) {
		t.Fatal("Sleep on a cancelled context went on")
	}
}

func TestLogThrottle(t *testing.T) {
	var th LogThrottle
	t0 := time.Unix(0, 0)
	steps := []struct {
		at   time.Duration
		n    int64
		want int64
	}{
		{0, 1, 1},                // the first is logged at once
		{time.Second, 2, 0},      // held back
		{9 * time.Second, 1, 0},  // still within 10 s
		{10 * time.Second, 1, 4}, // the line stands for everything since
		{11 * time.Second, 0, 0}, // nothing new
		{30 * time.Second, 0, 0}, // nothing pending, nothing to log
		{31 * time.Second, 5, 5}, // interval passed
		{32 * time.Second, 7, 0}, // held back again
	}
	for i, s := range steps {
		if got := th.Note(t0.Add(s.at), s.n); got != s.want {
			t.Fatalf("step %d: Note = %d, want %d", i, got, s.want)
		}
	}
	if got := th.Flush(); got != 7 {
		t.Fatalf("Flush = %d, want 7", got)
	}
	if got := th.Flush(); got != 0 {
		t.Fatalf("second Flush = %d", got)
	}
}
