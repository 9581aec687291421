package main

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// The model is what keyward must hold according to the requests it
// acknowledged. Every operation marks the resources it touches busy for the
// time of its call, so acknowledged operations on related resources are
// totally ordered and the expected final state is exact. An operation that
// got no answer (keyward killed mid-request) marks its resources uncertain
// until the state read after the restart decides whether it was applied,
// wholly or not at all.

type mUser struct {
	id, name string
	access   string   // as keyward normalised it (from the acknowledgement)
	pws      []string // current passwords (plaintext)
	deleted  bool     // DeleteUser acknowledged: must disappear
}

func (u *mUser) isDefault() bool { return u.name == "default" }

type mGroup struct {
	id      string
	members map[string]bool
	deleted bool
}

func (g *mGroup) memberList() []string { return slices.Sorted(maps.Keys(g.members)) }

type mCache struct {
	id      string
	nodes   int
	group   string // attached user group, "" for none
	deleted bool
}

// cred is a user name and password that keyward was given at some point.
type cred struct {
	user string // user id
	name string // ACL user name
	pw   string
}

type model struct {
	mu     sync.Mutex
	prefix string // makes ids unique per run
	seq    int
	// Every resource ever created (deleted ones must stay gone), and the
	// live ones, which the workload picks from.
	users     map[string]*mUser
	groups    map[string]*mGroup
	caches    map[string]*mCache
	liveU     map[string]*mUser
	liveG     map[string]*mGroup
	liveC     map[string]*mCache
	busy      map[string]bool // "u:id", "g:id", "c:id"
	uncertain map[string]bool
	resolved  map[string]bool // resources an unanswered operation touched, since the last check
	pending   []*pendingOp    // operations without an answer, to resolve
	creds     []cred          // every credential ever sent
	lim       limits
}

// limits bound the model so a long run keeps a steady size.
type limits struct {
	users    int // regular users
	defaults int // users named "default"
	groups   int
	caches   int
	maxNodes int
}

func newModel(prefix string, lim limits) *model {
	return &model{
		prefix: prefix, users: map[string]*mUser{}, groups: map[string]*mGroup{}, caches: map[string]*mCache{},
		liveU: map[string]*mUser{}, liveG: map[string]*mGroup{}, liveC: map[string]*mCache{},
		busy: map[string]bool{}, uncertain: map[string]bool{}, resolved: map[string]bool{}, lim: lim,
	}
}

// pendingOp is an operation that got no answer; resolve decides from the
// state read after the restart whether it was applied, and returns what is
// inconsistent with both possibilities.
type pendingOp struct {
	desc    string
	keys    []string
	resolve func(s *snapshot) []mismatch
}

func (m *model) next() int {
	m.seq++
	return m.seq
}

func (m *model) free(key string) bool { return !m.busy[key] && !m.uncertain[key] }

func (m *model) addUser(u *mUser)   { m.users[u.id], m.liveU[u.id] = u, u }
func (m *model) addGroup(g *mGroup) { m.groups[g.id], m.liveG[g.id] = g, g }
func (m *model) addCache(c *mCache) { m.caches[c.id], m.liveC[c.id] = c, c }

func (m *model) delUser(u *mUser) {
	u.deleted = true
	delete(m.liveU, u.id)
}

func (m *model) delGroup(g *mGroup) {
	g.deleted = true
	delete(m.liveG, g.id)
}

func (m *model) delCache(c *mCache) {
	c.deleted = true
	delete(m.liveC, c.id)
}

func (m *model) liveUsers(def bool) []*mUser {
	var out []*mUser
	for _, id := range slices.Sorted(maps.Keys(m.liveU)) {
		u := m.liveU[id]
		if u.isDefault() == def {
			out = append(out, u)
		}
	}
	return out
}

func (m *model) freeUsers(def bool) []*mUser {
	return slices.DeleteFunc(m.liveUsers(def), func(u *mUser) bool { return !m.free("u:" + u.id) })
}

func (m *model) liveGroups() []*mGroup {
	var out []*mGroup
	for _, id := range slices.Sorted(maps.Keys(m.liveG)) {
		if g := m.liveG[id]; !g.deleted {
			out = append(out, g)
		}
	}
	return out
}

func (m *model) freeGroups() []*mGroup {
	return slices.DeleteFunc(m.liveGroups(), func(g *mGroup) bool { return !m.free("g:" + g.id) })
}

func (m *model) liveCaches() []*mCache {
	var out []*mCache
	for _, id := range slices.Sorted(maps.Keys(m.liveC)) {
		if c := m.liveC[id]; !c.deleted {
			out = append(out, c)
		}
	}
	return out
}

// groupsOf returns the live groups u is a member of.
func (m *model) groupsOf(uid string) []string {
	var out []string
	for _, g := range m.liveGroups() {
		if g.members[uid] {
			out = append(out, g.id)
		}
	}
	return out
}

// cachesOf returns the live caches attached to group gid.
func (m *model) cachesOf(gid string) []string {
	var out []string
	for _, c := range m.liveCaches() {
		if c.group == gid {
			out = append(out, c.id)
		}
	}
	return out
}

func (m *model) defaultOf(g *mGroup) *mUser {
	for id := range g.members {
		if u := m.users[id]; u != nil && u.isDefault() {
			return u
		}
	}
	return nil
}

func (m *model) addCreds(u *mUser, pws []string) {
	for _, p := range pws {
		m.creds = append(m.creds, cred{user: u.id, name: u.name, pw: p})
	}
}

// allCreds returns every credential ever sent.
func (m *model) allCreds() []cred { return slices.Clone(m.creds) }

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// sample returns up to n distinct elements of xs.
func sample[T any](rng *rand.Rand, xs []T, n int) []T {
	xs = slices.Clone(xs)
	rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
	return xs[:min(n, len(xs))]
}

const pwAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
const pwSpecials = "!#$%^&*-_=+.~?"

// randPassword returns a valid ElastiCache password that is unique enough
// to be searched for as plaintext.
func randPassword(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString("Pw")
	for i := range 22 {
		if i%6 == 5 {
			b.WriteByte(pwSpecials[rng.IntN(len(pwSpecials))])
		} else {
			b.WriteByte(pwAlphabet[rng.IntN(len(pwAlphabet))])
		}
	}
	return b.String()
}

// randToken returns a valid AUTH token (specials only from !&#$^<>-).
func randToken(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString("Tk")
	for i := range 30 {
		if i%7 == 6 {
			b.WriteByte("!&#$^<>-"[rng.IntN(8)])
		} else {
			b.WriteByte(pwAlphabet[rng.IntN(len(pwAlphabet))])
		}
	}
	return b.String()
}

func randPasswords(rng *rand.Rand) []string {
	pws := []string{randPassword(rng)}
	if rng.IntN(3) == 0 {
		pws = append(pws, randPassword(rng))
	}
	return pws
}

// Access strings: each carries a key pattern unique to the request
// ("~<marker>:*"), so the stored string tells which request it came from.
var accessTemplates = []string{
	"on ~%s:* +@all",
	"on ~%s:* ~app:* -@all +@read +ping",
	"on ~%s:* +get +set +ping",
	"on ~%s:* &ch-* -@all +@pubsub +ping",
	"on ~%s:* +@all -flushall -flushdb",
}

const defaultAccessTemplate = "on ~%s:* ~app:* -@all +@read +ping"

func markerPattern(marker string) string { return "~" + marker + ":*" }
