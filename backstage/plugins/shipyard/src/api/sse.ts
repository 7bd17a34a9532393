/** One Server-Sent Events frame. @public */
export interface SseFrame {
  id?: string;
  event: string;
  data: string;
}

/**
 * An incremental `text/event-stream` parser: feed it text as it arrives, get back the
 * complete frames. Comment lines (`: heartbeat`) yield nothing; the caller sees every
 * chunk anyway, so a heartbeat still counts as life on the stream.
 * @public
 */
export class SseParser {
  private buffer = '';
  private id?: string;
  private event = '';
  private data: string[] = [];

  push(text: string): SseFrame[] {
    this.buffer += text;
    const frames: SseFrame[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // a lone \r at the end of the buffer may be the first half of \r\n
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const frame = this.line(line);
      if (frame) frames.push(frame);
    }
    return frames;
  }

  private line(line: string): SseFrame | undefined {
    if (line === '') {
      if (this.data.length === 0 && !this.event) return undefined;
      const frame: SseFrame = {
        id: this.id,
        event: this.event || 'message',
        data: this.data.join('\n'),
      };
      this.event = '';
      this.data = [];
      return frame;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
    return undefined;
  }
}
