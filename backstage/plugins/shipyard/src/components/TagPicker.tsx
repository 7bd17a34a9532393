import { useEffect, useState } from 'react';

import {
  Box,
  Button,
  Chip,
  LinearProgress,
  List,
  ListItem,
  ListItemText,
  TextField,
  Typography,
} from '@material-ui/core';
import { Tag, TagList } from '../api/types';
import { ErrorMessage } from './Messages';

export const TAGS_PER_PAGE = 8;

export interface TagPickerProps {
  /** One page of tags for a search: `offset`, `limit` and `total` when the server pages
   * them (the backend plugin), else every tag (Shipyard through the proxy). */
  load: (query: { q: string; limit: number; offset: number }) => Promise<TagList>;
  /** The environment the tag is for: tags its tag-pattern refuses are marked. */
  environment: string;
  /** Every environment, in promotion order: each tag says which of them admit it. */
  environments: string[];
  selected?: string;
  onSelect: (tag: string) => void;
  /** How long typing must pause before searching (ms). */
  debounceMs?: number;
}

interface Shown {
  tags: Tag[];
  offset: number;
  total: number;
}

function pageOf(answer: TagList, q: string, offset: number): Shown {
  if (answer.total !== undefined) {
    return { tags: answer.items, offset: answer.offset ?? offset, total: answer.total };
  }
  // every tag at once: search and page here
  const needle = q.toLocaleLowerCase('en-US');
  const found = needle
    ? answer.items.filter(
        tag =>
          tag.tag.toLocaleLowerCase('en-US').includes(needle) ||
          (tag.commit ?? '').toLocaleLowerCase('en-US').startsWith(needle),
      )
    : answer.items;
  return { tags: found.slice(offset, offset + TAGS_PER_PAGE), offset, total: found.length };
}

/** Searches and pages the tags Shipyard knows; shows per environment which ones its
 * tag-pattern admits and where each runs. */
export function TagPicker(props: TagPickerProps) {
  const { load, environment, environments, selected, onSelect } = props;
  const debounceMs = props.debounceMs ?? 250;
  const [typed, setTyped] = useState('');
  const [query, setQuery] = useState('');
  const [offset, setOffset] = useState(0);
  const [state, setState] = useState<{ loading: boolean; shown?: Shown; error?: Error }>({
    loading: true,
  });
  const [attempt, setAttempt] = useState(0);

  // A new search starts from its first page once typing pauses. Only a search that
  // changed: the timer set when the picker opens (or when the box is set back to what is
  // searched) must not send a person who paged on back to the first page.
  useEffect(() => {
    const next = typed.trim();
    if (next === query) return undefined;
    const timer = setTimeout(() => {
      setQuery(next);
      setOffset(0);
    }, debounceMs);
    return () => clearTimeout(timer);
  }, [typed, query, debounceMs]);

  useEffect(() => {
    let live = true;
    setState(previous => ({ ...previous, loading: true }));
    load({ q: query, limit: TAGS_PER_PAGE, offset }).then(
      answer => live && setState({ loading: false, shown: pageOf(answer, query, offset) }),
      error => live && setState({ loading: false, error }),
    );
    return () => {
      live = false;
    };
  }, [load, query, offset, attempt]);

  const shown = state.shown?.tags ?? [];
  const total = state.shown?.total ?? 0;
  const current = state.shown?.offset ?? 0;

  return (
    <Box>
      <TextField
        label="Search tags"
        value={typed}
        onChange={event => setTyped(event.target.value)}
        fullWidth
        margin="dense"
        variant="outlined"
        inputProps={{ 'aria-label': 'Search tags' }}
      />
      {state.loading && <LinearProgress aria-label="Loading tags" />}
      {state.error && (
        <ErrorMessage error={state.error} onRetry={() => setAttempt(n => n + 1)} />
      )}
      {!state.loading && !state.error && total === 0 && !query && (
        <Typography variant="body2" role="status">
          Shipyard knows no tag of this component yet: push a git tag matching the
          environment's tag-pattern.
        </Typography>
      )}
      {!state.loading && !state.error && total === 0 && query && (
        <Typography variant="body2" role="status">
          No tag matches "{query}".
        </Typography>
      )}
      <List dense aria-label="Tags">
        {shown.map(tag => {
          const admitted = tag.matches[environment] !== false;
          return (
            <ListItem
              key={tag.tag}
              button
              selected={tag.tag === selected}
              onClick={() => onSelect(tag.tag)}
              aria-label={`tag ${tag.tag}`}
              data-testid={`tag-${tag.tag}`}
            >
              <ListItemText
                primary={
                  <span>
                    <strong>{tag.tag}</strong>
                    {tag.commit && (
                      <Typography component="span" variant="caption" color="textSecondary">
                        {' '}
                        {tag.commit.slice(0, 7)}
                      </Typography>
                    )}
                    {!admitted && (
                      <Typography component="span" variant="caption" color="error">
                        {' '}
                        not admitted by {environment}'s tag-pattern
                      </Typography>
                    )}
                  </span>
                }
                secondary={
                  <span>
                    {environments.map(env => (
                      <Chip
                        key={env}
                        size="small"
                        variant={tag.matches[env] === false ? 'outlined' : 'default'}
                        label={`${env}: ${tag.matches[env] === false ? 'no' : 'yes'}${
                          tag.environments.includes(env) ? ' (running)' : ''
                        }`}
                        title={
                          tag.matches[env] === false
                            ? `${env}'s tag-pattern does not admit ${tag.tag}`
                            : `${env}'s tag-pattern admits ${tag.tag}`
                        }
                        style={{ marginRight: 4, marginTop: 2 }}
                      />
                    ))}
                    {tag.build && (
                      <Typography component="span" variant="caption">
                        {' '}
                        build: {tag.build}
                      </Typography>
                    )}
                  </span>
                }
                secondaryTypographyProps={{ component: 'div' }}
              />
            </ListItem>
          );
        })}
      </List>
      {total > TAGS_PER_PAGE && (
        <Box display="flex" alignItems="center" justifyContent="space-between">
          <Button
            size="small"
            disabled={current === 0 || state.loading}
            onClick={() => setOffset(Math.max(0, current - TAGS_PER_PAGE))}
          >
            Newer
          </Button>
          <Typography variant="caption">
            {current + 1}-{current + shown.length} of {total}
          </Typography>
          <Button
            size="small"
            disabled={current + TAGS_PER_PAGE >= total || state.loading}
            onClick={() => setOffset(current + TAGS_PER_PAGE)}
          >
            Older
          </Button>
        </Box>
      )}
    </Box>
  );
}
