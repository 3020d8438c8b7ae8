// Just enough multipart/form-data parsing for X's media APPEND (segment_index + media bytes).

export interface Part {
	name: string;
	filename?: string;
	contentType?: string;
	data: Buffer;
}

export function boundaryOf(contentType: string | undefined): string | null {
	const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? "");
	return m ? (m[1] ?? m[2]).trim() : null;
}

export function parseMultipart(body: Buffer, boundary: string): Part[] {
	const delimiter = Buffer.from(`--${boundary}`);
	const parts: Part[] = [];
	let pos = body.indexOf(delimiter);
	while (pos !== -1) {
		pos += delimiter.length;
		if (body.subarray(pos, pos + 2).toString() === "--") break; // closing delimiter
		if (body.subarray(pos, pos + 2).toString() === "\r\n") pos += 2;
		const next = body.indexOf(delimiter, pos);
		if (next === -1) break;
		const part = body.subarray(pos, next - 2); // the CRLF before the next delimiter belongs to it
		const split = part.indexOf("\r\n\r\n");
		if (split !== -1) {
			const headers = part.subarray(0, split).toString("utf8");
			const disposition = /content-disposition:([^\r\n]*)/i.exec(headers)?.[1] ?? "";
			const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
			if (name !== undefined) {
				parts.push({
					name,
					filename: /\bfilename="([^"]*)"/i.exec(disposition)?.[1],
					contentType: /content-type:\s*([^\r\n]*)/i.exec(headers)?.[1]?.trim(),
					data: part.subarray(split + 4),
				});
			}
		}
		pos = next;
	}
	return parts;
}
