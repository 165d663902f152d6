FROM a
RUN <<-EOT
	echo indented
	EOT
