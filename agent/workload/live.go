package workload

import (
	"math/rand/v2"
	"sync"
	"time"
)

// liveSet is the workload's picture of the table: which ids exist, the
// updated_at each was last given, and which ids a writer is changing right
// now. Only the workload writes the table, so after a commit this picture
// is exact without asking the database.
type liveSet struct {
	mu   sync.Mutex
	rows []liveRow      // dense, so a uniform random pick is one index
	pos  map[int64]int  // id → index in rows
	busy map[int64]bool // ids reserved by a writer between plan and ledger
	next int64          // the id the next insert gets
}

type liveRow struct {
	id      int64
	updated time.Time
}

func newLiveSet() *liveSet {
	return &liveSet{pos: map[int64]int{}, busy: map[int64]bool{}, next: 1}
}

// add records a committed insert (or a row found at start).
func (s *liveSet) add(id int64, updated time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(id, updated)
}

func (s *liveSet) addLocked(id int64, updated time.Time) {
	if i, ok := s.pos[id]; ok {
		s.rows[i].updated = updated
		return
	}
	s.pos[id] = len(s.rows)
	s.rows = append(s.rows, liveRow{id, updated})
	// Ids are never handed out twice in a run, even after a delete, so a
	// consumer never sees one key stand for two different rows.
	s.next = max(s.next, id+1)
}

// newID hands out the id for an insert.
func (s *liveSet) newID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	return id
}

// pick reserves a random live id that no other writer holds and returns it
// with its last updated_at; ok is false when there is none.
func (s *liveSet) pick(rng *rand.Rand) (id int64, updated time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.rows)
	if n <= len(s.busy) {
		return 0, time.Time{}, false
	}
	// At most writers-1 ids are busy, so a few random tries almost always
	// succeed; the scan bounds the rare unlucky case.
	for range 8 {
		if r := s.rows[rng.IntN(n)]; !s.busy[r.id] {
			s.busy[r.id] = true
			return r.id, r.updated, true
		}
	}
	start := rng.IntN(n)
	for i := range n {
		if r := s.rows[(start+i)%n]; !s.busy[r.id] {
			s.busy[r.id] = true
			return r.id, r.updated, true
		}
	}
	return 0, time.Time{}, false
}

// done applies a committed change (if committed) and releases the id.
func (s *liveSet) done(op string, id int64, updated time.Time, committed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, id)
	if !committed {
		return
	}
	switch op {
	case OpInsert, OpUpdate:
		s.addLocked(id, updated)
	case OpDelete:
		i, ok := s.pos[id]
		if !ok {
			return
		}
		last := len(s.rows) - 1
		s.rows[i] = s.rows[last]
		s.pos[s.rows[i].id] = i
		s.rows = s.rows[:last]
		delete(s.pos, id)
	}
}

// size is the number of live ids.
func (s *liveSet) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}
