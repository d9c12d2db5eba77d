package web

import (
	"context"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// instanceRows gives a page of instances where each waits and since when: the tokens
// of the whole page in one query (the tokens' instance index), the element names from
// the models (cached by the engine), never a query per row.
func (s *server) instanceRows(ctx context.Context, list []*store.Instance) ([]pages.InstanceListRow, error) {
	rows := make([]pages.InstanceListRow, len(list))
	if len(list) == 0 {
		return rows, nil
	}
	ids := make([]string, 0, len(list))
	for i, in := range list {
		rows[i].Instance = in
		if in.EndedAt == nil {
			ids = append(ids, in.ID)
		}
	}
	tokens, err := s.eng.ListTokens(ctx, ids)
	if err != nil {
		return nil, err
	}
	byInstance := map[string][]*store.Token{}
	for _, t := range tokens {
		byInstance[t.InstanceID] = append(byInstance[t.InstanceID], t)
	}
	names := map[string]map[string]string{} // definition id → element names
	for i := range rows {
		toks := byInstance[rows[i].Instance.ID]
		if len(toks) == 0 {
			continue
		}
		defID := rows[i].Instance.DefinitionID
		if _, ok := names[defID]; !ok {
			model, err := s.eng.Model(ctx, defID)
			if err != nil {
				return nil, err
			}
			names[defID] = elementNames(model)
		}
		rows[i].Waiting, rows[i].Since = waitingAt(toks, names[defID])
	}
	return rows, nil
}

// waitingAt names the elements an instance's tokens wait at, oldest arrival first, each
// once: a scope's token (a subprocess, a multi-instance body) is left out when tokens
// inside it say more precisely where the instance is. since is the oldest arrival.
func waitingAt(toks []*store.Token, names map[string]string) (out []pages.WaitingElement, since *time.Time) {
	scopes := map[string]bool{}
	for _, t := range toks {
		if t.ScopeID != "" {
			scopes[t.ScopeID] = true
		}
	}
	seen := map[string]bool{}
	for _, t := range toks { // by arrival (ListTokens' order)
		if scopes[t.ID] || t.State == store.TokenMultiInstance || seen[t.ElementID] {
			continue
		}
		seen[t.ElementID] = true
		out = append(out, pages.WaitingElement{ID: t.ElementID, Name: names[t.ElementID]})
		if since == nil || t.CreatedAt.Before(*since) {
			at := t.CreatedAt
			since = &at
		}
	}
	return out, since
}
