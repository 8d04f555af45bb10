#!/bin/sh
# What docker-compose.yml uses of the official nginx image's entrypoint
# (20-envsubst-on-templates.sh): each NAME.template under NGINX_ENVSUBST_TEMPLATE_DIR
# becomes NAME under NGINX_ENVSUBST_OUTPUT_DIR, envsubst replacing only the variables that
# are set and whose names match the regex NGINX_ENVSUBST_FILTER (all when it is empty),
# so that nginx's own $variables stay as they are.
set -eu

if [ "${1:-}" = nginx ]; then
    template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
    suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
    output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
    # The filter read from ENVIRON, not pasted into the program: a "/" in it is no error.
    names=$(awk 'END { for (n in ENVIRON) if (n ~ ENVIRON["NGINX_ENVSUBST_FILTER"]) printf "${%s} ", n }' </dev/null)
    if [ -d "$template_dir" ]; then
        find "$template_dir" -follow -type f -name "*$suffix" | while read -r template; do
            output=$output_dir/${template#"$template_dir"/}
            output=${output%"$suffix"}
            mkdir -p "$(dirname "$output")"
            echo "entrypoint: envsubst $template > $output"
            envsubst "$names" <"$template" >"$output"
        done
    fi
fi
exec "$@"
