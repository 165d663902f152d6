FROM a
RUN <<-EOT
	echo hi
  EOT
EOT
