import { useMemo, useState } from 'react';
import {
  Box,
  Button,
  Chip,
  List,
  ListItem,
  ListItemText,
  TextField,
  Typography,
} from '@material-ui/core';
import { Tag } from '../api/types';

export const TAGS_PER_PAGE = 8;

export interface TagPickerProps {
  tags: Tag[];
  /** The environment the tag is for: tags its tag-pattern refuses are marked. */
  environment: string;
  /** Every environment, in promotion order: each tag says which of them admit it. */
  environments: string[];
  selected?: string;
  onSelect: (tag: string) => void;
}

/** Searches and pages the tags Shipyard knows; shows per environment which ones its
 * tag-pattern admits and where each runs. */
export function TagPicker(props: TagPickerProps) {
  const { tags, environment, environments, selected, onSelect } = props;
  const [query, setQuery] = useState('');
  const [page, setPage] = useState(0);
  const found = useMemo(() => {
    const needle = query.trim().toLocaleLowerCase('en-US');
    return needle
      ? tags.filter(
          tag =>
            tag.tag.toLocaleLowerCase('en-US').includes(needle) ||
            (tag.commit ?? '').toLocaleLowerCase('en-US').startsWith(needle),
        )
      : tags;
  }, [tags, query]);
  const pages = Math.max(1, Math.ceil(found.length / TAGS_PER_PAGE));
  const current = Math.min(page, pages - 1);
  const shown = found.slice(current * TAGS_PER_PAGE, (current + 1) * TAGS_PER_PAGE);

  return (
    <Box>
      <TextField
        label="Search tags"
        value={query}
        onChange={event => {
          setQuery(event.target.value);
          setPage(0);
        }}
        fullWidth
        margin="dense"
        variant="outlined"
        inputProps={{ 'aria-label': 'Search tags' }}
      />
      {tags.length === 0 && (
        <Typography variant="body2" role="status">
          Shipyard knows no tag of this component yet: push a git tag matching the
          environment's tag-pattern.
        </Typography>
      )}
      {tags.length > 0 && found.length === 0 && (
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
      {found.length > TAGS_PER_PAGE && (
        <Box display="flex" alignItems="center" justifyContent="space-between">
          <Button size="small" disabled={current === 0} onClick={() => setPage(current - 1)}>
            Newer
          </Button>
          <Typography variant="caption">
            {current * TAGS_PER_PAGE + 1}-{current * TAGS_PER_PAGE + shown.length} of{' '}
            {found.length}
          </Typography>
          <Button
            size="small"
            disabled={current >= pages - 1}
            onClick={() => setPage(current + 1)}
          >
            Older
          </Button>
        </Box>
      )}
    </Box>
  );
}
