package kubernaut.actions.custom_script_test

import data.kubernaut.actions.custom_script

base := {"parameters": {"namespace": "shop", "resource": "pods", "selector": "app=web"}, "target": {"environment": "development", "labels": {}}}

with_selector(s) := object.union(base, {"parameters": {"selector": s}})

denied(s) := d if {
	d := custom_script.deny with input as with_selector(s)
}

test_never_denied_approval_from_the_catalogue if {
	count(custom_script.deny) == 0 with input as base
	count(custom_script.requires_approval) == 0
}

test_allows_one_equality_on_a_label if {
	count(denied("app=web")) == 0
	count(denied("app.kubernetes.io/name=web")) == 0
	count(denied("tier=Back_end.v-2")) == 0
	count(denied(concat("", [concat("", array.concat([p | some _ in numbers.range(1, 49); p := "abcd."], ["ef"])), "/", long_name, "=", long_name]))) == 0
}

one_equality(s) := sprintf(`parameter "selector" must be one label equality key=value (no "!=", "==", "in", "notin", "!key", bare key or commas), got %q`, [s])

# Anything but one positive equality widens or inverts what is read.
test_refuses_every_other_requirement if {
	denied("app!=web")[one_equality("app!=web")]
	denied("app==web")[one_equality("app==web")]
	denied("app in (a,b)")[one_equality("app in (a,b)")]
	denied("app notin (a)")[one_equality("app notin (a)")]
	denied("!app")[one_equality("!app")]
	denied("app")[one_equality("app")]
	denied("app=web,tier=db")[one_equality("app=web,tier=db")]
	denied("app=web tier")[one_equality("app=web tier")]
	denied("=web")[one_equality("=web")]
}

not_a_key(k) := sprintf(`parameter "selector": key %q is not a label key ([prefix/]name: the name 1 to 63 letters, digits, "-", "_" or "." with a letter or digit at each end; the prefix a DNS subdomain of at most 253 characters)`, [k])

not_a_value(v) := sprintf(`parameter "selector": value %q is not a label value (1 to 63 letters, digits, "-", "_" or "." with a letter or digit at each end)`, [v])

long_name := concat("", [c | some _ in numbers.range(1, 63); c := "a"])

test_refuses_keys_of_the_wrong_shape if {
	denied("-app=web")[not_a_key("-app")]
	denied("app.=web")[not_a_key("app.")]
	denied(concat("", [long_name, "b=web"]))[not_a_key(concat("", [long_name, "b"]))]
	denied("/app=web")[not_a_key("/app")]
	denied("a/b/c=web")[not_a_key("a/b/c")]
	denied("Example.com/app=web")[not_a_key("Example.com/app")]
	denied("example..com/app=web")[not_a_key("example..com/app")]
	long_prefix := concat("", array.concat([p | some _ in numbers.range(1, 51); p := "abcd."], ["ef"]))
	denied(concat("", [long_prefix, "/app=web"]))[not_a_key(concat("", [long_prefix, "/app"]))]
}

test_refuses_values_of_the_wrong_shape if {
	denied("app=")[not_a_value("")]
	denied("app=-web")[not_a_value("-web")]
	denied("app=web_")[not_a_value("web_")]
	denied("app=we/b")[not_a_value("we/b")]
	denied(concat("", ["app=", long_name, "b"]))[not_a_value(concat("", [long_name, "b"]))]
}
