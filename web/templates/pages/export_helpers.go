package pages

import "net/url"

// instancesCSVHref is the CSV export of the instance list with the same filters: every
// matching instance, not only the page shown.
func instancesCSVHref(f InstanceFilterForm) string {
	q := url.Values{}
	for _, h := range filterFields(f) {
		q.Set(h.Name, h.Value)
	}
	if len(q) == 0 {
		return "/instances.csv"
	}
	return "/instances.csv?" + q.Encode()
}

// modifyAllHref is the bulk modification page for the list's filter.
func modifyAllHref(f InstanceFilterForm) string {
	q := url.Values{}
	for _, h := range filterFields(f) {
		q.Set(h.Name, h.Value)
	}
	return "/instances/modify?" + q.Encode()
}

func analyticsHref(key string) string { return processHref(key) + "/analytics" }
