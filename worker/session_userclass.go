package worker

// This file owns what a worker makes of a newer master's
// update_user_class (Locust 2.25 and later: the web UI's user-class
// editor, or --config-users): the host and the tasks by name apply to
// the class's users started from then on; weight and fixed count are the
// master's (it decides how many users each worker runs); what has no
// meaning for a Go class is logged once. pool.go and spawn.go apply the
// update to new users.

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/golocust/golocust/protocol"
)

// onUpdateUserClass applies a master's update_user_class.
func (s *session) onUpdateUserClass(now time.Time, m protocol.UpdateUserClassMessage) {
	if _, ok := s.pool.classes[m.UserClassName]; !ok {
		s.warnLimited(now, "update-class:"+m.UserClassName, "ignoring update_user_class for a class this worker does not have",
			"class", peerText(m.UserClassName))
		return
	}
	var update classUpdate
	for _, key := range slices.Sorted(maps.Keys(m.Attributes)) {
		v := m.Attributes[key]
		switch key {
		case "host":
			host, ok := v.(string)
			if !ok || checkBase(host) != nil {
				s.warnLimited(now, "update-class-host", "ignoring update_user_class host: not an http(s) URL", "host", peerText(fmt.Sprint(v)))
				continue
			}
			update.host = host
		case "tasks":
			list, ok := v.([]any)
			if !ok {
				s.warnLimited(now, "update-class-tasks", "ignoring update_user_class tasks: not a list of task names", "tasks", peerText(fmt.Sprint(v)))
				continue
			}
			update.tasks = stringList(list)
			if update.tasks == nil {
				update.tasks = []string{}
			}
		case "weight", "fixed_count":
			// The master's dispatcher applies them: it sends the new counts.
		default:
			if s.warnOnce("update_user_class " + key) {
				s.logger.Warn("update_user_class sets an attribute a Go class does not have; ignoring it",
					"class", m.UserClassName, "attribute", peerText(key))
			}
		}
	}
	s.pool.updateClass(m.UserClassName, update)
	s.logger.Info("the master updated a user class; its users started from now on follow it",
		"class", m.UserClassName, "host", update.host, "tasks", update.tasks)
}

// updateClass records a class update for the users started from now on;
// a field left unchanged keeps an earlier update's value.
func (p *pool) updateClass(name string, u classUpdate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.updates == nil {
		p.updates = map[string]classUpdate{}
	}
	prev := p.updates[name]
	if u.host == "" {
		u.host = prev.host
	}
	if u.tasks == nil {
		u.tasks = prev.tasks
	}
	p.updates[name] = u
}

// selectTasks returns the tasks named in names, in their order; nil names
// selects all.
func selectTasks(tasks []Task, names []string) []Task {
	if names == nil {
		return tasks
	}
	var out []Task
	for _, t := range tasks {
		if slices.Contains(names, t.Name) {
			out = append(out, t)
		}
	}
	return out
}
